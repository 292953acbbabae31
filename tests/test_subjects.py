"""What a logged search was about: codes and signatures from its text, recorded with the search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from indexer.subjects import search_subjects
from kb import activity, logsig
from kb.activity import SearchEvent
from kb.store import Store
from kb.subjects import LogSignature, SearchSubject

LINE = "2026-03-02 10:15:07,123 ERROR [exec-7] req=8f3a9b21 user=tanaka took 1532 ms"
OTHER = "2026-03-02 10:15:09,001 WARN [exec-2] pool exhausted password=hunter2secret on relay"
T0 = datetime(2026, 3, 31, 10, tzinfo=UTC)


def test_codes_are_canonical_distinct_and_capped():
    assert search_subjects("SCH-13208 again sch-13208, then ORA-19809") == [
        ("code", "sch-13208", None),
        ("code", "ora-19809", None),
    ]
    many = " ".join(f"ORA-{10000 + i}" for i in range(30))
    assert [s for _, s, _ in search_subjects(many)] == [f"ora-{10000 + i}" for i in range(20)]


def test_signatures_are_the_whole_line_digests_of_log_lines_only():
    found = search_subjects(
        f"{LINE}\n{LINE.replace('exec-7', 'exec-9').replace('1532', '20')}\ncalendar sync fails after the upgrade"
    )
    assert len(found) == 1
    kind, sid, template = found[0]
    assert kind == "signature" and template == logsig.mask_line(LINE)
    assert sid in logsig.signature_tokens(LINE) and sid.startswith("l") and len(sid) == 17
    lines = "\n".join(
        f"2026-03-02 10:15:07 ERROR [main] step{chr(97 + i % 26)}{chr(97 + i // 26)} failed hard"
        for i in range(30)
    )
    assert len(search_subjects(lines)) == 20


@pytest.fixture
def store(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'subjects.sqlite3'}")
    store.create_schema()
    yield store
    store.close()


def log(
    store: Store,
    text: str,
    offset: int = 0,
    when: datetime = T0,
    results: int = 2,
    role: str = "support",
) -> int:
    return activity.record_search(
        store,
        SearchEvent(
            text=text,
            role=role,
            result_count=results,
            latency_ms=3,
            lang="en",
            offset=offset,
            subjects=tuple(search_subjects(text)),
            top_case="ESC-1",
            product="p1",
            component="c1",
        ),
        now=when,
    )


def test_first_page_records_one_row_per_subject_and_a_redacted_signature(store):
    sid = log(store, f"SCH-13208 {OTHER}")
    log(store, f"SCH-13208 {OTHER}", offset=10)  # a second page is the same search: nothing new
    with store.session() as session:
        rows = session.scalars(select(SearchSubject).order_by(SearchSubject.id)).all()
        signatures = session.scalars(select(LogSignature)).all()
    assert [(r.subject_type, r.subject, r.search_id) for r in rows][0] == ("code", "sch-13208", sid)
    assert len(rows) == 2 and rows[1].subject_type == "signature"
    assert {(r.role, r.lang, r.product, r.component, r.result_count, r.top_case) for r in rows} == {
        ("support", "en", "p1", "c1", 2, "ESC-1")
    }
    assert rows[0].created_at.replace(tzinfo=UTC) == T0
    assert len(signatures) == 1 and signatures[0].signature_id == rows[1].subject
    assert (
        "hunter2secret" not in signatures[0].template and "pool exhausted" in signatures[0].template
    )


def test_signature_first_and_last_seen_widen(store):
    log(store, OTHER, when=T0)
    log(store, OTHER, when=T0 + timedelta(hours=3))
    log(store, OTHER, when=T0 - timedelta(days=1))
    with store.session() as session:
        (row,) = session.scalars(select(LogSignature)).all()
    assert row.first_seen.replace(tzinfo=UTC) == T0 - timedelta(days=1)
    assert row.last_seen.replace(tzinfo=UTC) == T0 + timedelta(hours=3)


def test_unknown_types_and_duplicates_are_dropped(store):
    activity.record_search(
        store,
        SearchEvent(
            text="x",
            role="support",
            result_count=0,
            latency_ms=1,
            subjects=(("code", "a-1", None), ("code", "a-1", None), ("bogus", "b", None)),
        ),
    )
    with store.session() as session:
        assert [r.subject for r in session.scalars(select(SearchSubject))] == ["a-1"]


def test_a_web_search_records_its_subjects_top_case_and_product(tmp_path):
    from conftest import case_text

    from indexer.jobs import run_index
    from kb.settings import load_settings
    from webui import create_app

    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "ESC-2026-0001.md").write_text(case_text(logs=LINE), encoding="utf-8")
    settings = load_settings(
        environ={}, cases_dir=tmp_path / "cases", data_dir=tmp_path / "data", embed_model="hash:256"
    )
    assert run_index(settings).published
    app = create_app(settings, test_config={"KB_ROLE": "support"})
    try:
        client = app.test_client()
        assert (
            client.get("/api/v1/search", query_string={"q": f"SCH-13208\n{LINE}"}).status_code
            == 200
        )
        store = app.extensions["kb"].store
        with store.session() as session:
            rows = session.scalars(select(SearchSubject).order_by(SearchSubject.id)).all()
        assert [r.subject_type for r in rows] == ["code", "signature"]
        assert rows[0].subject == "sch-13208" and rows[0].top_case == "ESC-2026-0001"
        assert (
            rows[0].product == "tsumugi-server"
            and rows[0].component == "schedule"
            and rows[0].result_count >= 1
        )
        assert rows[1].subject in logsig.signature_tokens(LINE)
    finally:
        app.extensions["kb"].close()


def test_migration_0008_gives_the_models_covering_indexes(store_url):
    from alembic import command

    from kb.migrate import alembic_config, pending_changes, upgrade

    upgrade(store_url)
    assert pending_changes(store_url) == []
    command.downgrade(alembic_config(store_url), "0007")
    assert pending_changes(store_url) != []  # the 0007 indexes differ from the models
    upgrade(store_url)
    assert pending_changes(store_url) == []
