"""A build that would write the live generation's vector index again links it instead (indexer.reuse)."""

from __future__ import annotations

import os

from test_jobs import world

from indexer import generation as gen
from indexer.dense import VectorIndex
from indexer.jobs import run_index
from indexer.reuse import link_files, plan_append, vector_key
from indexer.searcher import Searcher, SearchRequest
from kb.migrate import open_store

CHUNKS = [("A", "symptoms", "t1", "h1"), ("A", "cause", "t2", "h2"), ("B", "symptoms", "t3", "h3")]


def test_the_key_follows_the_chunks_their_order_the_model_and_the_index_kind():
    key = vector_key("m", CHUNKS, 10, "sq8")
    assert key == vector_key("m", list(CHUNKS), 10, "sq8")
    assert key != vector_key("m", CHUNKS[::-1], 10, "sq8")  # rows are positions
    assert key != vector_key("m", [*CHUNKS[:2], ("B", "symptoms", "t3", "h4")], 10, "sq8")
    assert key != vector_key("m2", CHUNKS, 10, "sq8")
    assert key != vector_key("m", CHUNKS, 3, "sq8")  # exact below the threshold, HNSW from it
    # the storage only matters for HNSW
    assert vector_key("m", CHUNKS, 3, "sq8") != vector_key("m", CHUNKS, 3, "float32")
    assert vector_key("m", CHUNKS, 10, "sq8") == vector_key("m", CHUNKS, 10, "float32")


def test_linking_leaves_nothing_behind_when_a_file_is_missing(tmp_path):
    source, target = tmp_path / "live", tmp_path / "new"
    source.mkdir(), target.mkdir()
    (source / "a").write_text("x", "utf-8")
    assert not link_files(source, target, ("a", "b")) and not any(target.iterdir())
    (source / "b").write_text("y", "utf-8")
    assert link_files(source, target, ("a", "b"))
    assert (target / "a").read_text("utf-8") == "x"


def _ids(settings, text: str) -> list[str]:
    store = open_store(settings)
    try:
        return [
            h.id for h in Searcher(settings, store).search(SearchRequest(text, role="admin")).hits
        ]
    finally:
        store.close()


def _folder(settings, report):
    return settings.index_dir / report.generation


def test_a_full_rebuild_of_unchanged_cases_links_the_live_vectors(settings, write_cases):
    write_cases(world(4))
    first = run_index(settings)
    before = _ids(settings, "widget2 symptom")
    second = run_index(settings, full=True)
    manifest = gen.Manifest.read(_folder(settings, second))
    assert manifest.extra["vector_reused_from"] == first.generation
    assert second.build["embedded"] == 0
    old, new = (_folder(settings, r) / VectorIndex.FILE for r in (first, second))
    assert os.stat(old).st_ino == os.stat(new).st_ino  # one file, two generations
    assert manifest.dimension == gen.Manifest.read(_folder(settings, first)).dimension
    assert _ids(settings, "widget2 symptom") == before


def test_an_edited_case_embeds_its_chunk_and_another_storage_builds_the_graph_again(
    settings, write_cases
):
    hnsw = settings.replace(ann_threshold=1)
    write_cases(world(4))
    first = run_index(hnsw)
    files = world(4)
    files["ESC-2026-0002.md"] = files["ESC-2026-0002.md"].replace("widget2", "gadget2")
    write_cases(files)
    edited = run_index(hnsw)
    assert gen.Manifest.read(_folder(hnsw, edited)).extra["vector_reuse"] == "extended"
    assert edited.build["embedded"] > 0
    assert "ESC-2026-0002" in _ids(hnsw, "gadget2")
    flat = hnsw.replace(ann_storage="float32")
    other = run_index(flat, full=True)
    manifest = gen.Manifest.read(_folder(flat, other))
    assert manifest.extra["vector_reused_from"] is None
    assert manifest.extra["vector_storage"] == "float32" and first.generation != other.generation


def test_a_live_generation_without_its_vector_file_is_rebuilt_not_linked(settings, write_cases):
    write_cases(world(3))
    first = run_index(settings)
    (_folder(settings, first) / VectorIndex.FILE).unlink()  # damaged by hand
    second = run_index(settings, full=True)
    manifest = gen.Manifest.read(_folder(settings, second))
    assert manifest.extra["vector_reused_from"] is None
    assert (_folder(settings, second) / VectorIndex.FILE).is_file()
    assert "ESC-2026-0003" in _ids(settings, "widget3")


ROW = ("A", "symptoms", "h1")


def test_an_append_plan_keeps_live_rows_removes_the_gone_and_appends_the_new():
    live = [ROW, ("A", "cause", "h2"), None, ("B", "symptoms", "h3")]
    chunks = [("B", "symptoms", "t3", "h3"), ("A", "symptoms", "t1", "h1"), ("C", "x", "t", "h9")]
    plan = plan_append(live, chunks)
    assert plan.rows == [ROW, None, None, ("B", "symptoms", "h3"), ("C", "x", "h9")]
    assert plan.append == [2] and plan.removed == 2


def test_an_append_plan_matches_duplicate_chunks_one_row_each():
    plan = plan_append([ROW], [("A", "symptoms", "t", "h1"), ("A", "symptoms", "t", "h1")])
    assert plan.rows == [ROW, ROW] and plan.append == [1]


def _hnsw(settings):
    return settings.replace(ann_threshold=1)  # every index an HNSW graph


def _edit(n: int, cases: int = 10) -> dict[str, str]:
    files = world(cases)
    for i in range(1, n + 1):
        name = f"ESC-2026-{i:04d}.md"
        files[name] = files[name].replace(f"widget{i}", f"gadget{i}")
    return files


def test_an_incremental_build_extends_the_live_graph_and_never_returns_removed_rows(
    settings, write_cases
):
    from indexer.filters import Filters
    from indexer.searcher import OpenGeneration

    hnsw = _hnsw(settings)
    write_cases(world(10))
    first = run_index(hnsw)
    old = OpenGeneration(_folder(hnsw, first))
    write_cases(_edit(1))
    second = run_index(hnsw)
    manifest = gen.Manifest.read(_folder(hnsw, second))
    assert manifest.extra["vector_reuse"] == "extended" and second.build["embedded"] == 1
    assert manifest.extra["vector_rows"] == manifest.chunk_count + 1  # one row removed
    g = OpenGeneration(_folder(hnsw, second))
    removed = [row for row, cid in enumerate(g.chunk_case) if not cid]
    assert len(removed) == 1 and "ESC-2026-0001" not in {g.chunk_case[r] for r in removed}
    store = open_store(hnsw)
    try:
        searcher = Searcher(hnsw, store)
        vector = searcher.encoder(manifest.model).encode_queries(["widget1 symptom"])
    finally:
        store.close()
    unmasked = g.vectors.search(vector, g.vectors.size)[0]
    assert unmasked[0][0] == removed[0]  # the old text's row would be the best answer
    for mask in (g.row_mask(Filters()), g.row_mask(Filters(products=("tsumugi-server",)))):
        rows = [row for row, _ in g.vectors.search(vector, g.vectors.size, mask)[0]]
        assert removed[0] not in rows and len(rows) == manifest.chunk_count
    assert old.vectors.size == manifest.chunk_count  # the live generation's graph is untouched
    assert "ESC-2026-0001" in _ids(hnsw, "gadget1")


def test_too_many_removed_rows_write_the_graph_afresh(settings, write_cases):
    hnsw = _hnsw(settings)
    write_cases(world(10))
    run_index(hnsw)
    write_cases(_edit(9))  # 9 of 39 rows would be removed: over a fifth
    report = run_index(hnsw)
    manifest = gen.Manifest.read(_folder(hnsw, report))
    assert manifest.extra["vector_reuse"] is None
    assert manifest.extra["vector_rows"] == manifest.chunk_count
