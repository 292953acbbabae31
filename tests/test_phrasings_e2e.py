"""Learned phrasings end to end: index, search, "solved" by two users, one `kb index`, the case moves
up for a paraphrase; one user alone moves nothing; a restricted case's phrasing helps no one who
cannot read it and its text is shown to no one else; the case page's section is for engineers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from worlds import PASSWORD, case_text, page_text, search_id_of, signed_in

from indexer import reasons
from indexer.jobs import run_index
from indexer.searcher import Searcher, SearchRequest
from kb import accounts, activity, phrasings
from kb import feedback as kb_feedback
from kb.activity import SearchEvent
from kb.migrate import open_store

TARGET = "ESC-2026-0101"
LEARNED = "everyone kicked out first thing in the morning"
PARAPHRASE = "kicked out again first thing, everyone at once"
WORLD = {
    f"{TARGET}.md": case_text(
        TARGET,
        title="SSO sign-in rejected at the start of the day",
        component="auth",
        symptoms="SAML assertions are refused for all accounts after 9:00; the IdP clock drifted.",
        cause="The IdP clock drifted by six minutes overnight.",
        resolution="Enable NTP on the IdP.",
    ),
    "ESC-2026-0102.md": case_text(
        "ESC-2026-0102",
        title="Backup job slows the first thing users open",
        component="backup",
        symptoms="The first thing opened in the morning is slow while the backup runs.",
        cause="The backup starts at 8:55.",
        resolution="Move the backup window.",
    ),
    "ESC-2026-0103.md": case_text(
        "ESC-2026-0103",
        title="Kiosk session kicked out by the screensaver",
        component="portal",
        symptoms="The kiosk user is kicked out when the screensaver starts.",
        cause="Screensaver ends the session.",
        resolution="Disable the kiosk screensaver.",
    ),
    "ESC-2026-0104.md": case_text(
        "ESC-2026-0104",
        title="Everyone sees the maintenance banner",
        component="portal",
        symptoms="Everyone sees the maintenance banner at once after the upgrade.",
        cause="Banner flag not cleared.",
        resolution="Clear the banner flag.",
    ),
}


@pytest.fixture
def indexed(settings, write_cases):
    write_cases(WORLD)
    assert run_index(settings).published
    store = open_store(settings)
    yield settings, store
    store.close()


def solved(store, author: str, role: str, text: str, case_id: str, verdict: str = "solved") -> None:
    """``author`` searches ``text`` and marks ``case_id`` (what the search page's buttons do)."""
    search_id = activity.record_search(
        store, SearchEvent(text=text, role=role, result_count=3, latency_ms=5.0, author=author)
    )
    kb_feedback.record_feedback(store, role, verdict, search_id, case_id, author=author)


def ranking(settings, store, text: str, role: str = "support") -> list[str]:
    response = Searcher(settings, store).search(SearchRequest(text, role=role, limit=10))
    return [h.id for h in response.hits + response.weak]


def test_two_users_solving_move_the_case_up_for_a_paraphrase_within_one_kb_index(indexed):
    settings, store = indexed
    before = ranking(settings, store, PARAPHRASE)
    assert before[:1] != [TARGET]
    solved(store, "sato", "support", LEARNED, TARGET)
    solved(store, "suzuki", "support", LEARNED, TARGET)
    report = run_index(settings)
    assert report.plan["mode"] == "incremental" and report.plan["upsert"] == 1  # no full rebuild
    response = Searcher(settings, store).search(SearchRequest(PARAPHRASE, limit=10))
    after = [h.id for h in response.hits + response.weak]
    assert after.index(TARGET) < (
        before.index(TARGET) if TARGET in before else len(before)
    )  # moved up
    hit = next(
        h for h in response.hits if h.id == TARGET
    )  # a counted match now, because of its learned phrasing
    assert "learned" in hit.why["reasons"]
    assert not any("learned" in str(t) for t in hit.why["matched_terms"])
    assert ("why.learned", {}) in reasons.hit_reasons(
        hit, PARAPHRASE
    )  # said, never with the phrasing's text
    assert run_index(settings).plan["mode"] == "none"  # nothing changed since
    since = datetime.now(UTC) - timedelta(days=1)
    assert [
        (e["case"], e["users"], e["text"])
        for e in phrasings.nightly_entries(store, settings, since)
    ] == [(TARGET, 2, LEARNED)]


def test_one_user_alone_moves_nothing_however_often(indexed):
    settings, store = indexed
    before = {q: ranking(settings, store, q) for q in (PARAPHRASE, LEARNED, "maintenance banner")}
    for _ in range(15):
        solved(store, "sato", "support", LEARNED, TARGET)
        solved(store, "sato", "support", "maintenance banner", TARGET)
        solved(store, "sato", "support", PARAPHRASE, "ESC-2026-0104", "not_relevant")
    assert run_index(settings).plan["mode"] == "none"
    assert {q: ranking(settings, store, q) for q in before} == before


def test_not_relevant_from_two_users_lowers_the_case_for_near_identical_queries_only(indexed):
    settings, store = indexed
    query = "everyone sees the banner at once"
    before = Searcher(settings, store).search(SearchRequest(query, limit=10))
    first = before.hits[0]
    other = ranking(settings, store, "maintenance banner after the upgrade")
    solved(store, "sato", "support", query, first.id, "not_relevant")
    solved(store, "suzuki", "support", "Everyone sees the banner at once", first.id, "not_relevant")
    assert run_index(settings).plan["mode"] == "incremental"
    after = Searcher(settings, store).search(
        SearchRequest("Everyone sees the  banner at once.", limit=10)
    )
    assert first.id not in [
        h.id for h in after.hits
    ]  # no longer a counted match for this query ...
    lowered = next(h for h in after.weak if h.id == first.id)
    assert lowered.score == pytest.approx(first.score / 2, abs=1e-6)  # ... and lowered
    assert ranking(settings, store, "maintenance banner after the upgrade") == other  # never global


def test_a_restricted_cases_phrasing_helps_only_who_may_read_it(settings, write_cases):
    world = dict(WORLD)
    world[f"{TARGET}.md"] = WORLD[f"{TARGET}.md"].replace(
        "visibility: support", "visibility: restricted"
    )
    write_cases(world)
    assert run_index(settings).published
    store = open_store(settings)
    try:
        support_before = ranking(settings, store, PARAPHRASE)
        solved(store, "mori", "admin", LEARNED, TARGET)
        solved(store, "noda", "admin", LEARNED, TARGET)
        assert run_index(settings).plan["mode"] == "incremental"
        admin = Searcher(settings, store).search(SearchRequest(PARAPHRASE, role="admin", limit=10))
        assert (
            "learned" in next(h for h in admin.hits if h.id == TARGET).why["reasons"]
        )  # helps who may read it
        assert ranking(settings, store, PARAPHRASE) == support_before
        assert TARGET not in support_before
        since = datetime.now(UTC) - timedelta(days=1)
        assert [
            (e["case"], e["text"]) for e in phrasings.nightly_entries(store, settings, since)
        ] == [(TARGET, None)]
    finally:
        store.close()


# -- the web: the case page's section, and nothing of a phrasing's text for support ---------------------

SECRET_PHRASING = "exported spreadsheet shows strangers invoices"


def test_the_case_page_shows_learned_phrasings_to_engineers_only(world):
    from webui import create_app

    settings, _ = world
    store = open_store(settings)
    accounts.add_user(store, "suzuki", "support", PASSWORD)
    accounts.add_user(store, "noda", "admin", PASSWORD)
    store.close()
    app = create_app(settings, test_config={"WTF_CSRF_ENABLED": False})
    try:
        phrasing = "relay queue stuck since this morning"
        for name in ("sato", "suzuki"):
            client = signed_in(app, name)
            page = client.get("/search", query_string={"q": phrasing})
            sid = search_id_of(page)
            answer = client.post(
                "/feedback",
                data={
                    "verdict": "solved",
                    "case_id": "ESC-2026-0003",
                    "search_id": sid,
                    "next": "/",
                },
            )
            assert answer.status_code == 303
        for name in ("mori", "noda"):  # two admins teach the restricted case
            client = signed_in(app, name)
            sid = search_id_of(client.get("/search", query_string={"q": SECRET_PHRASING}))
            client.post(
                "/feedback",
                data={
                    "verdict": "solved",
                    "case_id": "ESC-2026-0005",
                    "search_id": sid,
                    "next": "/",
                },
            )
        engineer = signed_in(app, "kato")
        shown = engineer.get("/cases/ESC-2026-0003")
        assert 'id="case-learned"' in shown.get_data(as_text=True) and phrasing in page_text(shown)
        assert "phrasing=" in shown.get_data(
            as_text=True
        )  # accept: the editor, with the phrasing to append
        support = signed_in(app, "sato")
        hidden = support.get("/cases/ESC-2026-0003")
        assert hidden.status_code == 200 and 'id="case-learned"' not in hidden.get_data(
            as_text=True
        )
        # removing is for engineers (a POST, audited), and support cannot
        from kb.phrasings import phrasing_key

        key = phrasing_key(phrasing)
        edit = engineer.get(
            f"/cases/ESC-2026-0003/edit?phrasing={key}"
        )  # accept: the editor, symptoms + the phrasing
        assert edit.status_code == 200 and phrasing in edit.get_data(as_text=True)
        assert phrasing not in engineer.get("/cases/ESC-2026-0003/edit").get_data(as_text=True)
        assert (
            support.post(
                f"/cases/ESC-2026-0003/phrasings/{key}", data={"action": "removed"}
            ).status_code
            == 403
        )
        assert (
            engineer.post(
                f"/cases/ESC-2026-0003/phrasings/{key}", data={"action": "removed"}
            ).status_code
            == 303
        )
        assert phrasing not in page_text(engineer.get("/cases/ESC-2026-0003"))
        store = open_store(settings)
        assert accounts.audit_events(store, action="phrasing_removed")
        store.close()
        # the restricted case's phrasing: nowhere for support, on pages or in the API
        bodies = [
            support.get(url).get_data(as_text=True)
            for url in (
                "/search?q=strangers+invoices+export",
                "/search?q=spreadsheet",
                "/stats",
                "/api/v1/search?q=strangers+invoices",
                *(f"/cases/ESC-2026-{i:04d}" for i in (1, 2, 3, 6)),
                "/api/v1/cases/ESC-2026-0003",
            )
        ]
        assert not any(SECRET_PHRASING in body for body in bodies)
        admin = signed_in(app, "mori")
        assert SECRET_PHRASING in page_text(admin.get("/cases/ESC-2026-0005"))
    finally:
        app.extensions["kb"].close()


def test_admins_search_words_never_make_a_support_case_a_match_for_support(indexed):
    settings, store = indexed
    codename = "amefurashi embargo portlet pentest"  # words only admins may read the searches of
    before = ranking(settings, store, codename)
    solved(store, "mori", "admin", codename, TARGET)
    solved(store, "abe", "admin", codename, TARGET)
    assert TARGET not in phrasings.index_state(store, settings).texts  # support reads the case
    run_index(settings)
    response = Searcher(settings, store).search(SearchRequest(codename, role="support", limit=10))
    assert [h.id for h in response.hits + response.weak] == before  # support's search unchanged
    assert not any("learned" in h.why["reasons"] for h in response.hits + response.weak)
    solved(store, "sato", "support", LEARNED, TARGET)
    solved(store, "suzuki", "support", LEARNED, TARGET)
    assert phrasings.index_state(store, settings).texts[TARGET] == [LEARNED]  # support's do count
