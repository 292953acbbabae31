"""The store and the sync, on SQLite and (when KB_TEST_DATABASE_URL is set) PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import BACKENDS, case_text  # the store_url fixture comes from conftest too
from sqlalchemy import create_engine

from kb.store import Store
from kb.sync import sync_store


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    s.create_schema()
    yield s
    s.close()


def test_ci_proves_both_backends():
    if os.environ.get("CI"):
        assert "postgresql" in BACKENDS, (
            "CI must set KB_TEST_DATABASE_URL (scripts/test.sh starts a server)"
        )


def test_sync_adds_changes_and_deletes(settings, write_cases, store):
    folder = write_cases(
        {
            "ESC-2026-0001.md": case_text(),
            "ESC-2026-0002.md": case_text("ESC-2026-0002", title="Mail stuck"),
        }
    )
    report = sync_store(settings, store)
    assert sorted(report.added) == ["ESC-2026-0001", "ESC-2026-0002"] and not report.failed

    again = sync_store(settings, store)
    assert again.unchanged == 2 and not again.touched

    (folder / "ESC-2026-0002.md").write_text(
        case_text("ESC-2026-0002", title="Mail stuck in queue"), "utf-8"
    )
    (folder / "ESC-2026-0001.md").unlink()
    third = sync_store(settings, store)
    assert third.changed == ["ESC-2026-0002"] and third.deleted == ["ESC-2026-0001"]
    assert store.get_case("ESC-2026-0001") is None
    assert store.get_case("ESC-2026-0002").title == "Mail stuck in queue"


def test_round_trip_keeps_every_field(settings, write_cases, store):
    write_cases(
        {
            "ESC-2026-0001.md": case_text(
                extra="severity: S2\nauthors: [sakai]\nrelated: [ESC-2025-0042]\nreview_by: 2026-09-01\n",
                logs="2026-01-01 10:00:00 ERROR x failed [SCH-13208]",
            )
        }
    )
    sync_store(settings, store)
    case = store.get_case("ESC-2026-0001")
    assert (
        case.severity == "S2" and case.authors == ("sakai",) and case.related == ("ESC-2025-0042",)
    )
    assert case.versions == ("5.9",) and case.tags == ("repeat-event",)
    assert [s.name for s in case.sections] == ["symptoms", "cause", "resolution", "logs"]
    assert case.error_codes == ("SCH-13208",)
    assert case.path == "ESC-2026-0001.md"
    chunks = store.all_chunks()
    assert {c[1] for c in chunks} == {"symptoms", "cause", "resolution", "logs"}
    assert all(c[2].startswith(case.title) for c in chunks)


def test_a_bad_file_is_reported_and_its_last_good_version_kept(settings, write_cases, store):
    folder = write_cases(
        {"ESC-2026-0001.md": case_text(), "ESC-2026-0002.md": case_text("ESC-2026-0002")}
    )
    sync_store(settings, store)
    (folder / "ESC-2026-0001.md").write_text(case_text(status="fixed"), "utf-8")
    (folder / "ESC-2026-0003.md").write_text(case_text("ESC-2026-0003", title="New one"), "utf-8")
    report = sync_store(settings, store)
    assert report.added == ["ESC-2026-0003"]
    assert report.failed == [str(folder / "ESC-2026-0001.md")]
    assert any("unknown status 'fixed'" in str(p) for p in report.problems)
    assert store.get_case("ESC-2026-0001").status == "resolved"  # nothing lost
    # the problem is still reported on the next run even though the file did not change
    assert sync_store(settings, store).failed == [str(folder / "ESC-2026-0001.md")]


def test_duplicate_ids_in_subfolders(settings, write_cases, store):
    folder = write_cases({"ESC-2026-0001.md": case_text()})
    (folder / "2026").mkdir()
    (folder / "2026" / "ESC-2026-0001.md").write_text(case_text(title="Copy"), "utf-8")
    report = sync_store(settings, store)
    assert len(report.added) == 1 and len(report.failed) == 1
    assert any("duplicate id 'ESC-2026-0001'" in p.message for p in report.problems)


def test_embedding_cache(store):
    store.save_embeddings("m", 2, {"h1": b"12345678"})
    assert store.cached_embeddings("m", ["h1", "h2"]) == {"h1": b"12345678"}
    assert store.cached_embeddings("other", ["h1"]) == {}


def test_missing_cases_folder_is_reported(settings, store):
    report = sync_store(settings.replace(cases_dir=Path("/no/such/folder")), store)
    assert report.problems[0].message.startswith("cases folder does not exist")


def test_migrations_build_exactly_the_models_schema(store_url):
    from kb.migrate import current_revision, head_revision, migrate, pending_changes

    migrate(store_url)
    assert current_revision(store_url) == head_revision()
    assert pending_changes(store_url) == []
    migrate(store_url)  # idempotent


def test_a_store_made_before_migrations_is_adopted(store_url):
    from sqlalchemy import inspect

    from kb.migrate import current_revision, head_revision, migrate, pending_changes
    from kb.store import CaseRow, SectionRow

    legacy = Store(store_url)  # an early store: only some of today's tables
    CaseRow.__table__.create(legacy.engine)
    SectionRow.__table__.create(legacy.engine)
    legacy.close()
    migrate(store_url)
    assert current_revision(store_url) == head_revision()
    engine = create_engine(store_url)
    assert {"search_log", "users", "embeddings"} <= set(inspect(engine).get_table_names())
    engine.dispose()
    assert pending_changes(store_url) == []


def _age(folder: Path, seconds: int = 60) -> None:
    """Date every file in ``folder`` back, as files committed long before the sync."""
    import time

    for path in folder.rglob("*.md"):
        then = time.time() - seconds
        os.utime(path, (then, then))


def _count_reads(monkeypatch) -> list[str]:
    import kb.sync

    reads: list[str] = []
    original = kb.sync.read_case_bytes

    def counting(path, *args, **kwargs):
        reads.append(Path(path).name)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(kb.sync, "read_case_bytes", counting)
    return reads


def test_files_whose_size_and_time_match_are_not_read_again(
    settings, write_cases, store, monkeypatch
):
    folder = write_cases(
        {
            "ESC-2026-0001.md": case_text(),
            "ESC-2026-0002.md": case_text("ESC-2026-0002", status="fixed"),
        }
    )
    _age(folder)
    first = sync_store(settings, store)
    assert first.added == ["ESC-2026-0001"] and len(first.failed) == 1
    reads = _count_reads(monkeypatch)
    again = sync_store(settings, store)
    assert reads == [] and again.unchanged == 2
    assert again.failed == first.failed and any(
        "unknown status 'fixed'" in str(p) for p in again.problems
    )  # still reported

    path = folder / "ESC-2026-0001.md"
    before = path.stat()
    path.write_text(case_text(title="Recurring events FAIL with SCH-13208"), "utf-8")
    assert path.stat().st_size == before.st_size
    third = sync_store(settings, store)
    assert reads == ["ESC-2026-0001.md"] and third.changed == ["ESC-2026-0001"]


def test_a_file_written_just_before_the_scan_is_hashed_again_next_time(
    settings, write_cases, store, monkeypatch
):
    write_cases({"ESC-2026-0001.md": case_text()})  # written now: its time cannot be trusted yet
    sync_store(settings, store)
    assert store.file_states()["ESC-2026-0001.md"].mtime_ns is None
    reads = _count_reads(monkeypatch)
    assert sync_store(settings, store).unchanged == 1 and reads == ["ESC-2026-0001.md"]


def test_a_touched_file_is_unchanged_and_its_new_time_remembered(
    settings, write_cases, store, monkeypatch
):
    folder = write_cases({"ESC-2026-0001.md": case_text()})
    _age(folder, 120)
    sync_store(settings, store)
    _age(folder, 60)  # same content, new time (a git checkout does this)
    report = sync_store(settings, store)
    assert report.unchanged == 1 and not report.touched
    reads = _count_reads(monkeypatch)
    sync_store(settings, store)
    assert reads == []


def test_rehash_reads_every_file_even_when_size_and_time_were_restored(
    settings, write_cases, store
):
    folder = write_cases({"ESC-2026-0001.md": case_text()})
    _age(folder)
    sync_store(settings, store)
    path = folder / "ESC-2026-0001.md"
    st = path.stat()
    path.write_text(case_text(title="Recurring events FAIL with SCH-13208"), "utf-8")  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old time put back
    assert sync_store(settings, store).unchanged == 1  # invisible to the fast path, by design
    assert sync_store(settings, store, rehash=True).changed == ["ESC-2026-0001"]
    assert store.get_case("ESC-2026-0001").title == "Recurring events FAIL with SCH-13208"


def test_many_cases_load_in_batches_with_every_part(settings, write_cases, store, monkeypatch):
    import kb.store

    monkeypatch.setattr(kb.store, "ID_BATCH", 2)
    write_cases(
        {
            f"ESC-2026-{i:04d}.md": case_text(
                f"ESC-2026-{i:04d}",
                title=f"Case {i}",
                tags="[b-tag, a-tag]" if i == 3 else "[repeat-event]",
                logs=f"ERROR x failed [SCH-1320{i}]",
            )
            for i in range(1, 6)
        }
    )
    sync_store(settings, store)
    cases = store.get_cases([f"ESC-2026-{i:04d}" for i in range(0, 7)])
    assert sorted(cases) == [f"ESC-2026-{i:04d}" for i in range(1, 6)]
    assert (
        cases["ESC-2026-0004"].error_codes == ("SCH-13204",)
        and cases["ESC-2026-0004"].title == "Case 4"
    )
    assert [s.name for s in cases["ESC-2026-0002"].sections] == [
        "symptoms",
        "cause",
        "resolution",
        "logs",
    ]
    assert set(cases["ESC-2026-0003"].tags) == {"a-tag", "b-tag"}
    assert [c.id for c in store.all_cases()] == sorted(cases)
