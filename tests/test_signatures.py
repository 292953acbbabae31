"""The signature page, its JSON twin, `kb signature` and "start a case" from a new problem (fast tier)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from conftest import case_text

from indexer.jobs import run_index
from indexer.searcher import Searcher
from kb import logsig, signatures
from kb.activity import Feedback, SearchLog
from kb.cli import main
from kb.errors import NotFoundError, QueryError
from kb.migrate import open_store
from kb.subjects import LogSignature, SearchSubject
from webui import create_app

LOG = "2026-03-02 10:15:07,123 ERROR [exec-7] c.k.t.RecurrenceService - Cannot apply exception to series 448213"
LOG_OTHER_NUMBERS = "2026-04-11 23:01:55,901 ERROR [exec-12] c.k.t.RecurrenceService - Cannot apply exception to series 9"
NEW_LINE = "2026-05-01 08:00:00 WARN [pool-3] QuotaGuard - tenant quota exceeded for bucket 77 by tanaka@example.co.jp"
WORLD = {
    "ESC-2026-0001.md": case_text(
        "ESC-2026-0001",
        title="Recurring event exception fails",
        logs=LOG,
        versions='["5.9", "6.0"]',
    ),
    "ESC-2026-0002.md": case_text(
        "ESC-2026-0002",
        title="Restricted VELVET-OWL",
        visibility="restricted",
        logs=LOG_OTHER_NUMBERS,
    ),
    "ESC-2026-0003.md": case_text(
        "ESC-2026-0003",
        title="Engineering GLASS-HERON",
        visibility="engineering",
        logs=LOG_OTHER_NUMBERS,
        status="known-issue",
    ),
    "ESC-2026-0004.md": case_text(
        "ESC-2026-0004", title="Approval route stale", symptoms="The approval route is stale."
    ),
}
SIG = signatures.signature_id(logsig.mask_line(LOG))
NEW_SIG = signatures.signature_id(logsig.mask_line(NEW_LINE))
NOW = datetime(2026, 5, 2, 12, 30, tzinfo=UTC)


@pytest.fixture
def world(settings, write_cases):
    write_cases(WORLD)
    assert run_index(settings).published
    return settings


def add_search(
    settings,
    sig: str,
    when: datetime,
    role: str = "support",
    text: str = LOG,
    results: int = 1,
    verdict: str | None = None,
    template: str | None = None,
) -> None:
    """One logged search that named ``sig``, as the search log records it, with an optional verdict."""
    store = open_store(settings)
    try:
        with store.session() as session:
            row = SearchLog(
                text=text, role=role, result_count=results, latency_ms=1.0, created_at=when
            )
            session.add(row)
            session.flush()
            session.add(
                SearchSubject(
                    search_id=row.id,
                    created_at=when,
                    subject_type="signature",
                    subject=sig,
                    role=role,
                    result_count=results,
                )
            )
            found = session.get(LogSignature, sig)
            if found is None:
                session.add(
                    LogSignature(
                        signature_id=sig,
                        template=template or logsig.mask_line(text),
                        first_seen=when,
                        last_seen=when,
                    )
                )
            else:
                found.first_seen, found.last_seen = (
                    min(found.first_seen.replace(tzinfo=UTC), when),
                    max(found.last_seen.replace(tzinfo=UTC), when),
                )
            if verdict:
                session.add(Feedback(search_id=row.id, verdict=verdict, role=role, created_at=when))
    finally:
        store.close()


def finder(settings):
    store = open_store(settings)
    return Searcher(settings, store), store


# -- pure parts -------------------------------------------------------------------------------------


def test_the_id_is_the_whole_line_token_the_index_holds():
    assert SIG == logsig.signature_tokens(LOG)[0] and re.fullmatch(r"l[0-9a-f]{16}", SIG)
    assert (
        signatures.signature_id(logsig.mask_line(LOG_OTHER_NUMBERS)) == SIG
    )  # other numbers, same template
    found = signatures.line_signatures(
        f"Users say the calendar breaks:\n{LOG}\n{LOG_OTHER_NUMBERS}\n{NEW_LINE}",
        log_lines_only=True,
    )
    assert [sig for sig, _ in found] == [
        SIG,
        NEW_SIG,
    ]  # a sentence is no signature, a repeated template counts once
    assert signatures.line_signatures("too short") == []
    for bad in ("", "l123", "L0123456789abcdef", "l0123456789abcdeg", "s0123456789abcdef"):
        with pytest.raises(QueryError):
            signatures.check_signature_id(bad)


def test_buckets_by_day_and_hour():
    times = [
        NOW - timedelta(minutes=5),
        NOW - timedelta(minutes=40),
        NOW - timedelta(hours=3),
        NOW - timedelta(days=2),
        NOW - timedelta(days=31),
        (NOW - timedelta(hours=1)).replace(tzinfo=None),
    ]  # SQLite gives naive UTC
    days, hours = signatures.buckets(times, NOW)
    assert (
        len(days) == 30
        and days[-1] == (NOW.date(), 4)
        and days[-3] == ((NOW - timedelta(days=2)).date(), 1)
    )
    assert sum(n for _, n in days) == 5  # 31 days ago is out of the window
    assert (
        len(hours) == 48
        and hours[-1][1] == 1
        and hours[-2][1] == 2
        and hours[-4][1] == 1
        and sum(n for _, n in hours) == 4
    )


def test_new_problem_rule():
    assert signatures.is_new_problem(0, {"solved": 3, "escalated": 0})
    assert signatures.is_new_problem(2, {"solved": 1, "escalated": 2})
    assert not signatures.is_new_problem(1, {"solved": 1, "escalated": 1})


def test_sample_lines_are_scrubbed_and_distinct():
    texts = [f"please help\n{NEW_LINE}", NEW_LINE, NEW_LINE.replace("77", "78")]
    lines = signatures.sample_lines(texts, NEW_SIG)
    assert len(lines) == 2 and all("tanaka@example.co.jp" not in line for line in lines)
    assert "QuotaGuard" in lines[0] and "please help" not in "".join(lines)


# -- the searcher and the report ----------------------------------------------------------------------


def test_cases_with_signature_obey_the_role(world):
    searcher, store = finder(world)
    try:
        assert searcher.cases_with_signature(SIG, "support") == ["ESC-2026-0001"]
        assert set(searcher.cases_with_signature(SIG, "engineer")) == {
            "ESC-2026-0001",
            "ESC-2026-0003",
        }
        assert set(searcher.cases_with_signature(SIG, "admin")) == {
            "ESC-2026-0001",
            "ESC-2026-0002",
            "ESC-2026-0003",
        }
        assert searcher.cases_with_signature(NEW_SIG, "admin") == []
        with pytest.raises(QueryError):
            searcher.cases_with_signature("x; drop table", "admin")
    finally:
        store.close()


def test_report_counts_volume_verdicts_and_hides_higher_roles_searches(world):
    add_search(world, SIG, NOW - timedelta(minutes=10), verdict="solved")
    add_search(world, SIG, NOW - timedelta(hours=5), results=0, verdict="escalated")
    add_search(world, SIG, NOW - timedelta(days=3), verdict="not_relevant")
    add_search(world, SIG, NOW - timedelta(days=40))
    add_search(world, SIG, NOW - timedelta(minutes=1), role="admin", verdict="escalated")
    searcher, store = finder(world)
    try:
        support = signatures.signature_report(searcher, SIG, "support", NOW)
        admin = signatures.signature_report(searcher, SIG, "admin", NOW)
    finally:
        store.close()
    assert support.templates == [logsig.mask_line(LOG)]
    assert [(c.id, c.title, c.versions, c.status) for c in support.cases] == [
        ("ESC-2026-0001", "Recurring event exception fails", ("5.9", "6.0"), "resolved")
    ]
    assert (support.searches, support.zero_results) == (4, 1)
    assert support.verdicts == {"solved": 1, "not_relevant": 1, "escalated": 1}
    assert support.first_seen == NOW - timedelta(days=40) and support.last_seen == NOW - timedelta(
        minutes=10
    )
    assert sum(n for _, n in support.by_day) == 3 and sum(n for _, n in support.by_hour) == 2
    assert not support.new_problem
    assert (admin.searches, admin.verdicts["escalated"], len(admin.cases)) == (5, 2, 3)
    assert admin.last_seen == NOW - timedelta(minutes=1)
    body = json.dumps(support.to_dict())
    assert (
        "VELVET" not in body
        and "GLASS" not in body
        and "ESC-2026-0002" not in body
        and "ESC-2026-0003" not in body
    )


def test_unknown_and_hidden_only_signatures_are_not_found(world):
    hidden = signatures.signature_id(
        logsig.mask_line("ERROR [main] Vault sealed for tenant 12 after restart")
    )
    add_search(
        world,
        hidden,
        NOW,
        role="admin",
        text="ERROR [main] Vault sealed for tenant 12 after restart",
    )
    searcher, store = finder(world)
    try:
        with pytest.raises(NotFoundError):
            signatures.signature_report(searcher, NEW_SIG, "admin", NOW)
        with pytest.raises(
            NotFoundError
        ):  # only an admin searched it: to support it does not exist
            signatures.signature_report(searcher, hidden, "support", NOW)
        assert signatures.signature_report(searcher, hidden, "admin", NOW).new_problem
    finally:
        store.close()


# -- the web pages and the API -----------------------------------------------------------------------


def app_for(settings, role: str):
    return create_app(settings, test_config={"KB_ROLE": role, "WTF_CSRF_ENABLED": False})


@pytest.mark.parametrize(
    "lang,heading,cases_label",
    [
        ("ja", "ログシグネチャ", "このシグネチャを持つ事例 (1 件)"),
        ("en", "Log signature", "Cases with this signature (1)"),
    ],
)
def test_signature_page_in_both_languages_shows_only_visible_cases(
    world, lang, heading, cases_label
):
    add_search(world, SIG, datetime.now(UTC) - timedelta(hours=1), verdict="solved")
    app = app_for(world, "support")
    try:
        page = app.test_client().get(f"/signatures/{SIG}?lang={lang}")
    finally:
        app.extensions["kb"].close()
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and heading in body and cases_label in body
    assert logsig.mask_line(LOG).replace("<", "&lt;").replace(">", "&gt;") in body
    assert "ESC-2026-0001" in body and "5.9, 6.0" in body and body.count("<svg") == 2
    for secret in ("VELVET-OWL", "GLASS-HERON", "ESC-2026-0002", "ESC-2026-0003"):
        assert secret not in body
    assert 'id="start-case"' not in body and 'id="new-problem"' not in body


def test_api_and_error_shapes(world):
    add_search(world, SIG, datetime.now(UTC), role="engineer", verdict="escalated")
    app = app_for(world, "engineer")
    try:
        client = app.test_client()
        data = client.get(f"/api/v1/signatures/{SIG}").get_json()
        missing = client.get(f"/api/v1/signatures/{NEW_SIG}")
        malformed = client.get("/api/v1/signatures/l123")
        page_missing = client.get(f"/signatures/{NEW_SIG}")
        page_malformed = client.get("/signatures/%3Cscript%3E")
    finally:
        app.extensions["kb"].close()
    assert data["ok"] and data["signature_id"] == SIG and data["url"] == f"/signatures/{SIG}"
    assert {c["id"] for c in data["cases"]} == {"ESC-2026-0001", "ESC-2026-0003"}
    assert (
        data["verdicts"] == {"solved": 0, "not_relevant": 0, "escalated": 1}
        and data["searches"] == 1
    )
    assert len(data["by_day"]) == 30 and len(data["by_hour"]) == 48 and data["by_hour"][-1][1] == 1
    assert missing.status_code == 404 and missing.get_json() == {
        "ok": False,
        "error": f"no signature '{NEW_SIG}'",
        "status": 404,
    }
    assert (
        malformed.status_code == 400
        and malformed.get_json()["ok"] is False
        and malformed.get_json()["field"] == "signature"
    )
    assert page_missing.status_code == 404 and page_malformed.status_code == 400
    assert "<script>" not in page_malformed.get_data(as_text=True)


def test_a_new_problem_offers_a_prefilled_case_to_engineers_only(world):
    sample = f"please help, since this morning:\n{NEW_LINE}"
    add_search(
        world,
        NEW_SIG,
        NOW - timedelta(hours=2),
        text=sample,
        results=0,
        verdict="escalated",
        template=logsig.mask_line(NEW_LINE),
    )
    add_search(world, NEW_SIG, NOW - timedelta(hours=1), text=sample, results=0)
    engineer, support = app_for(world, "engineer"), app_for(world, "support")
    try:
        page = engineer.test_client().get(f"/signatures/{NEW_SIG}?lang=en").get_data(as_text=True)
        support_page = (
            support.test_client().get(f"/signatures/{NEW_SIG}?lang=en").get_data(as_text=True)
        )
        link = re.search(r'id="start-case" href="([^"]+)"', page).group(1).replace("&amp;", "&")
        editor = engineer.test_client().get(link + "&lang=en")
        refused = support.test_client().get(link)
    finally:
        engineer.extensions["kb"].close()
        support.extensions["kb"].close()
    assert 'id="new-problem"' in page and "No case has this signature yet." in page
    assert (
        parse_qs(urlsplit(link).query) == {"signature": [NEW_SIG]} and urlsplit(link).path == "/new"
    )
    assert (
        'id="new-problem"' in support_page and 'id="start-case"' not in support_page
    )  # support may not write cases
    assert refused.status_code == 403
    form = editor.get_data(as_text=True)
    assert editor.status_code == 200
    logs = re.search(r'name="section_logs"[^>]*>(.*?)</textarea>', form, re.S).group(1)
    investigation = re.search(
        r'name="section_investigation"[^>]*>(.*?)</textarea>', form, re.S
    ).group(1)
    assert "QuotaGuard - tenant quota exceeded" in logs and "tanaka@example.co.jp" not in form
    assert "please help" not in logs  # only the lines with the signature
    assert (
        NEW_SIG in investigation
        and "First seen 2026-05-02 10:30 UTC / last seen 2026-05-02 11:30 UTC" in investigation
    )
    assert "2 searches (2 with no result)" in investigation and "escalated 1" in investigation


def test_results_page_links_the_signatures_of_a_pasted_log(world):
    app = app_for(world, "support")
    try:
        page = (
            app.test_client()
            .post("/search", data={"q": f"{LOG}\n{NEW_LINE}"})
            .get_data(as_text=True)
        )
        prose = (
            app.test_client().get("/search?q=approval+route+is+stale+again").get_data(as_text=True)
        )
    finally:
        app.extensions["kb"].close()
    assert f'href="/signatures/{SIG}"' in page and f'href="/signatures/{NEW_SIG}"' in page
    assert "/signatures/" not in prose


# -- the command --------------------------------------------------------------------------------------


def test_kb_signature_prints_the_same_facts(world):
    add_search(world, SIG, datetime.now(UTC), verdict="solved")
    env = {
        "KB_CASES_DIR": str(world.cases_dir),
        "KB_DATA_DIR": str(world.data_dir),
        "KB_EMBED_MODEL": "hash:256",
    }
    runner = CliRunner()
    text = runner.invoke(main, ["signature", f"{LOG}\n{NEW_LINE}", "--role", "support"], env=env)
    as_json = runner.invoke(main, ["signature", LOG, "--json", "--role", "admin"], env=env)
    empty = runner.invoke(main, ["signature", "hi"], env=env)
    assert text.exit_code == 0, text.output
    assert (
        f"{SIG}  {logsig.mask_line(LOG)}" in text.output
        and "ESC-2026-0001  Recurring event exception fails  [5.9, 6.0]  resolved" in text.output
    )
    assert (
        "1 case; 1 search (0 with no result)" in text.output
        and "solved 1, not relevant 0, escalated 0" in text.output
    )
    assert f"{NEW_SIG}  " in text.output and "a new problem" in text.output
    assert "VELVET" not in text.output and "GLASS" not in text.output
    data = json.loads(as_json.output)
    assert data[0]["signature_id"] == SIG and {c["id"] for c in data[0]["cases"]} == {
        "ESC-2026-0001",
        "ESC-2026-0002",
        "ESC-2026-0003",
    }
    assert empty.exit_code == 2 and "no log line template" in empty.output
