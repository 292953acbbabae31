"""The bulk load: the sync's multi-row writes (one transaction per batch), its worker processes,
and the embedding cache's bulk insert, on SQLite and (with KB_TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

import pytest
from conftest import case_text

import kb.chunking
import kb.errors
import kb.sync
from kb.store import Store
from kb.sync import sync_store


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    s.create_schema()
    yield s
    s.close()


def _files(n: int, bad: tuple[int, ...] = ()) -> dict[str, str]:
    files = {
        f"ESC-2026-{i:04d}.md": case_text(
            f"ESC-2026-{i:04d}", title=f"Case {i}", logs=f"ERROR x failed [SCH-1{i:04d}]"
        )
        for i in range(1, n + 1)
    }
    for i in bad:
        files[f"ESC-2026-{i:04d}.md"] = case_text(
            f"ESC-2026-{i:04d}", status="fixed"
        )  # unknown status: refused
    return files


def _store_view(store: Store) -> dict[str, tuple]:
    return {
        c.id: (c.title, c.error_codes, tuple(s.name for s in c.sections)) for c in store.all_cases()
    }


@pytest.mark.parametrize("workers", [False, True])
def test_batches_and_worker_processes_load_what_one_pass_loads(
    settings, write_cases, store, monkeypatch, workers
):
    monkeypatch.setattr(kb.sync, "BATCH", 3)
    if workers:
        monkeypatch.setattr(kb.sync, "PARALLEL_FILES", 2)
        monkeypatch.setattr(kb.sync, "cores", lambda: 2)
        monkeypatch.setattr(
            kb.sync, "WORKER_CHUNK", 1
        )  # 11 tasks, 8 in flight: the window refills in order
    folder = write_cases(_files(11, bad=(4, 9)))
    report = sync_store(settings, store)
    assert len(report.added) == 9 and len(report.failed) == 2 and report.error_count == 2
    assert sorted(p.split("/")[-1] for p in report.failed) == [
        "ESC-2026-0004.md",
        "ESC-2026-0009.md",
    ]
    view = _store_view(store)
    assert sorted(view) == [f"ESC-2026-{i:04d}" for i in range(1, 12) if i not in (4, 9)]
    assert view["ESC-2026-0007"][1] == ("SCH-10007",) and view["ESC-2026-0007"][2] == (
        "symptoms",
        "cause",
        "resolution",
        "logs",
    )
    assert len(store.all_chunks()) == sum(
        len(kb.chunking.case_chunks(c)) for c in store.all_cases()
    )
    # a second pass: nothing read again; a change and a rename are picked up
    assert sync_store(settings, store).unchanged == 11
    (folder / "ESC-2026-0002.md").write_text(case_text("ESC-2026-0002", title="Changed"), "utf-8")
    (folder / "ESC-2026-0003.md").unlink()
    again = sync_store(settings, store, rehash=True)
    assert (
        again.changed == ["ESC-2026-0002"]
        and again.deleted == ["ESC-2026-0003"]
        and again.unchanged == 9
    )
    assert (
        store.get_case("ESC-2026-0002").title == "Changed"
        and store.get_case("ESC-2026-0003") is None
    )
    states = store.file_states()
    assert len(states) == 10 and not states["ESC-2026-0004.md"].ok and states["ESC-2026-0002.md"].ok


def test_a_failed_batch_keeps_the_batches_before_it(settings, write_cases, store, monkeypatch):
    monkeypatch.setattr(kb.sync, "BATCH", 2)
    write_cases(_files(6))
    real = store.write_cases_bulk
    calls = []

    def failing(conn, cases):
        calls.append(len(cases))
        if len(calls) == 2:
            raise RuntimeError("disk gone")
        real(conn, cases)

    monkeypatch.setattr(store, "write_cases_bulk", failing)
    with pytest.raises(RuntimeError):
        sync_store(settings, store)
    monkeypatch.setattr(store, "write_cases_bulk", real)
    assert sorted(_store_view(store)) == [
        "ESC-2026-0001",
        "ESC-2026-0002",
    ]  # the first batch was committed
    report = sync_store(settings, store)  # the next run loads the rest
    assert (
        sorted(report.added) == [f"ESC-2026-{i:04d}" for i in range(3, 7)] and report.unchanged == 2
    )
    assert len(_store_view(store)) == 6


def test_bulk_embeddings_skip_those_already_cached(store):
    store.save_embeddings_bulk("m", 2, {"a": b"12345678", "b": b"abcdefgh"})
    store.save_embeddings_bulk("m", 2, {"a": b"ignored!", "c": b"cccccccc"})
    assert store.cached_embeddings("m", ["a", "b", "c", "d"]) == {
        "a": b"12345678",
        "b": b"abcdefgh",
        "c": b"cccccccc",
    }


def test_the_bulk_connection_restores_sqlite_pragmas(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'kb.sqlite3'}")
    store.create_schema()
    with store.engine.connect() as conn:
        before = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    with store.bulk_connection() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL during the load
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == before
    store.close()


def test_a_build_whose_lexical_thread_fails_leaves_the_live_generation_serving(
    settings, write_cases, monkeypatch
):
    import indexer.builder as builder
    from indexer import generation as gen
    from indexer.jobs import run_index

    folder = write_cases(_files(3))
    first = run_index(settings)
    (folder / "ESC-2026-0002.md").write_text(case_text("ESC-2026-0002", title="Changed"), "utf-8")

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(builder, "_write_lexical", broken)
    with pytest.raises(kb.errors.KBError, match="no space left on device"):
        run_index(settings, full=True)
    assert gen.current_name(settings.index_dir) == first.generation
    assert not [p for p in settings.index_dir.iterdir() if p.name.endswith(".partial")]


def test_a_failed_cache_write_fails_the_build_and_keeps_the_live_generation(
    settings, write_cases, monkeypatch
):
    from indexer import generation as gen
    from indexer.jobs import run_index

    folder = write_cases(_files(2))
    first = run_index(settings)
    (folder / "ESC-2026-0003.md").write_text(case_text("ESC-2026-0003", title="A new one"), "utf-8")

    def broken(self, model, dim, vectors):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(Store, "save_embeddings_bulk", broken)
    with pytest.raises(RuntimeError, match="database is locked"):
        run_index(settings)
    assert gen.current_name(settings.index_dir) == first.generation


def test_each_thread_stems_with_its_own_stemmer():
    """The lexical index is analysed in a thread beside the encoder (the hashing encoder analyses
    too): a Snowball stemmer keeps the word it works on in itself, so threads must not share one
    (a 100,000-case build failed with an IndexError inside snowballstemmer when they did)."""
    import threading

    from indexer import analysis

    stemmers: list[object] = []
    threads = [
        threading.Thread(target=lambda: stemmers.append(analysis._stemmer())) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(s) for s in stemmers}) == 4 and analysis._stemmer() is analysis._stemmer()
    words = [f"connection{i}s running{i} engineered{i}" for i in range(2000)]
    expected = [analysis.words(w) for w in words]
    analysis._stem.cache_clear()
    results: dict[int, list[list[str]]] = {}
    workers = [
        threading.Thread(
            target=lambda n=n: results.__setitem__(n, [analysis.words(w) for w in words])
        )
        for n in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert all(found == expected for found in results.values())


def test_worker_processes_analyse_the_same_lexical_documents_in_order(
    settings, write_cases, store, monkeypatch
):
    import indexer.documents as docs
    from indexer.lexical import profile

    write_cases(_files(7))
    sync_store(settings, store)
    cases = store.all_cases()
    learned = {cases[2].id: ["everyone kicked out in the morning"]}
    fields = profile("standard")
    alone = list(docs.documents(cases, fields, learned))
    monkeypatch.setattr(docs, "PARALLEL_CASES", 2)
    monkeypatch.setattr(docs, "WORKER_CASES", 2)  # 4 tasks over 2 workers
    monkeypatch.setattr(docs, "cores", lambda: 2)
    spread = list(docs.documents(cases, fields, learned))
    assert [d.case_id for d in spread] == [c.id for c in cases]
    assert spread == alone
    assert spread[2].tokens["learned"] and not spread[1].tokens["learned"]
