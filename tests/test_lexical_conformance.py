"""One conformance suite for every lexical engine (whoosh, tantivy), on tiny hand-made documents.

Documents are given as ready tokens, exactly as :func:`indexer.lexical.case_document` hands them
over, so each test reads its expectation straight from :data:`DOCS`. The last tests build whole
generations with each engine through ``run_index`` and compare what search returns.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import REPO, case_text
from worlds import SEARCH_WORLD

from indexer import generation as gen
from indexer.engines import ENGINES, lexical_engine
from indexer.filters import Filters
from indexer.jobs import run_index
from indexer.lexical import SIGNATURE_FIELD, FieldQuery, FieldSpec, LexicalDoc
from indexer.searcher import Searcher, SearchRequest
from kb.migrate import open_store

NAMES = ("whoosh", "tantivy")
FIELDS = (FieldSpec("title", "words", 2.0), FieldSpec("body", "words", 1.0))


def doc(
    case_id: str,
    title: str,
    body: str,
    *,
    product: str = "server",
    component: str = "mail",
    status: str = "resolved",
    visibility: str = "support",
    created: str = "2026-01-05",
    tags: tuple[str, ...] = (),
    versions: tuple[str, ...] = (),
    logsig: str = "",
) -> LexicalDoc:
    tokens = {"title": title.split(), "body": body.split(), SIGNATURE_FIELD: logsig.split()}
    return LexicalDoc(
        case_id, tokens, product, component, status, visibility, created, tags, versions
    )


# Every document holds "case" in its body, so a query for it returns exactly what the filters let through.
DOCS = (
    doc(
        "A",
        "mail timeout",
        "case smtp relay timeout",
        tags=("mail", "smtp"),
        versions=("5.9",),
        logsig="t:1a s:2b",
    ),
    doc(
        "B",
        "mail delay",
        "case queue mail mail",
        product="cloud",
        status="workaround",
        visibility="engineering",
        created="2026-02-05",
        tags=("queue",),
        versions=("6.0",),
    ),
    doc(
        "C",
        "route cache",
        "case approval route timeout",
        component="workflow",
        visibility="restricted",
        created="2025-12-31",
        versions=("5.9", "6.0"),
        logsig="t:1a",
    ),
    doc(
        "D",
        "alpha",
        "case beta",
        product="cloud",
        component="sso",
        status="known-issue",
        created="2026-03-01",
        tags=("login",),
    ),
    doc("E", "beta", "case alpha", component="sso", created="2026-03-02", tags=("login",)),
)
ALL = {d.case_id for d in DOCS}
EVERY_DOC = [FieldQuery("body", (("case", 1.0),))]


def q(field: str, *terms: str | tuple[str, float], boost: float = 1.0) -> FieldQuery:
    return FieldQuery(field, tuple(t if isinstance(t, tuple) else (t, 1.0) for t in terms), boost)


def open_engine(name: str, path: Path, docs=DOCS):  # type: ignore[no-untyped-def]
    engine = lexical_engine(name, path, FIELDS, create=True)
    engine.add(docs)
    engine.commit()
    return engine


@pytest.fixture(params=NAMES)
def engine(request, tmp_path):  # type: ignore[no-untyped-def]
    engine = open_engine(request.param, tmp_path / "lexical")
    yield engine
    engine.close()


def ids(hits) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.case_id for h in hits]


def test_both_engines_are_registered():
    assert set(NAMES) <= set(ENGINES)
    with pytest.raises(ValueError, match="whoosh, tantivy"):
        lexical_engine("lucene", Path("."), FIELDS)


def test_field_boosts_change_the_order(engine):
    # D has "alpha" in its title and "beta" in its body; E the other way round.
    assert ids(
        engine.search([q("title", "alpha", boost=3.0), q("body", "alpha")], Filters(), 10)
    ) == ["D", "E"]
    assert ids(
        engine.search(
            [q("title", "alpha", boost=0.2), q("body", "alpha", boost=3.0)], Filters(), 10
        )
    ) == ["E", "D"]


def test_term_weights_change_the_order(engine):
    assert ids(engine.search([q("title", ("alpha", 1.0), ("beta", 0.1))], Filters(), 10)) == [
        "D",
        "E",
    ]
    assert ids(engine.search([q("title", ("alpha", 0.1), ("beta", 1.0))], Filters(), 10)) == [
        "E",
        "D",
    ]


def test_more_matching_terms_rank_higher_and_limit_applies(engine):
    query = [q("title", "mail", "timeout", boost=2.0), q("body", "timeout")]
    hits = engine.search(query, Filters(), 10)
    assert ids(hits) == ["A", "B", "C"] and hits[0].score > hits[1].score > hits[2].score > 0
    assert ids(engine.search(query, Filters(), 1)) == ["A"]


@pytest.mark.parametrize(
    "filters,expected",
    [
        (Filters(), ALL),
        (Filters(products=("cloud",)), {"B", "D"}),
        (Filters(components=("sso", "workflow")), {"C", "D", "E"}),
        (Filters(statuses=("workaround",)), {"B"}),
        (Filters(visibilities=("support", "engineering")), {"A", "B", "D", "E"}),
        (Filters(visibilities=("\x00none",)), set()),
        (Filters(tags=("login",)), {"D", "E"}),
        (Filters(tags=("smtp", "queue")), {"A", "B"}),
        (Filters(versions=("5.9",)), {"A", "C"}),
        (Filters(versions=("6.0",)), {"B", "C"}),
        (Filters(created_from=date(2026, 2, 5)), {"B", "D", "E"}),
        (Filters(created_to=date(2026, 1, 5)), {"A", "C"}),
        (Filters(created_from=date(2026, 1, 1), created_to=date(2026, 3, 1)), {"A", "B", "D"}),
        (Filters(created_from=date(2026, 3, 2), created_to=date(2026, 3, 2)), {"E"}),
        (Filters(created_from=date(2027, 1, 1)), set()),
        (
            Filters(
                products=("server",),
                components=("sso",),
                tags=("login",),
                created_to=date(2026, 3, 2),
            ),
            {"E"},
        ),
        (Filters(products=("nope",)), set()),
    ],
)
def test_every_filter_applies_inside_the_engine(engine, filters, expected):
    assert set(ids(engine.search(EVERY_DOC, filters, 10))) == expected
    assert engine.matching_ids(filters) == expected


def test_filters_restrict_before_the_limit(engine):
    # Post-filtering the top hit would return nothing; filtering inside the engine returns C.
    hits = engine.search(
        [q("title", "mail", "timeout"), q("body", "timeout")], Filters(components=("workflow",)), 1
    )
    assert ids(hits) == ["C"]


def test_filters_do_not_change_scores(engine):
    plain = {h.case_id: h.score for h in engine.search([q("body", "timeout")], Filters(), 10)}
    filtered = engine.search(
        [q("body", "timeout")], Filters(versions=("5.9",), statuses=("resolved",)), 10
    )
    assert {h.case_id: h.score for h in filtered} == plain


def test_matching_ids_with_and_without_among(engine):
    assert engine.matching_ids(Filters()) == ALL
    assert engine.matching_ids(Filters(), among=["A", "C", "Z"]) == {"A", "C"}
    assert engine.matching_ids(Filters(versions=("6.0",)), among=["A", "C", "D"]) == {"C"}
    assert engine.matching_ids(Filters(), among=[]) == set()
    assert engine.matching_ids(Filters(), among=iter(["E"])) == {"E"}


def test_doc_frequencies_and_doc_count(engine):
    assert engine.doc_count() == 5
    assert engine.doc_frequencies("body", ["case", "timeout", "mail", "missing"]) == {
        "case": 5,
        "timeout": 2,
        "mail": 1,
        "missing": 0,
    }
    assert engine.doc_frequencies("title", ["mail"]) == {"mail": 2}
    assert engine.doc_frequencies(SIGNATURE_FIELD, ["t:1a", "s:2b"]) == {"t:1a": 2, "s:2b": 1}


def test_matched_terms_list_what_each_hit_contains(engine):
    hits = engine.search(
        [
            q("title", "mail", "timeout", "nothing"),
            q("body", "timeout", "queue"),
            q(SIGNATURE_FIELD, "t:1a"),
        ],
        Filters(),
        10,
    )
    matched = {h.case_id: h.matched for h in hits}
    assert matched == {
        "A": ("body:timeout", "logsig:t:1a", "title:mail", "title:timeout"),
        "B": ("body:queue", "title:mail"),
        "C": ("body:timeout", "logsig:t:1a"),
    }


def test_hits_without_matched_terms_rank_the_same(engine):
    queries = [
        q("title", "mail", "timeout"),
        q("body", "timeout", "queue"),
        q(SIGNATURE_FIELD, "t:1a"),
    ]
    full, bare = (
        engine.search(queries, Filters(), 10),
        engine.search(queries, Filters(), 10, with_matched=False),
    )
    assert [h.case_id for h in bare] == [h.case_id for h in full]
    assert [h.score for h in bare] == pytest.approx([h.score for h in full], rel=1e-9)
    assert all(h.matched == () for h in bare) and all(h.matched for h in full)


def test_matched_terms_of_a_long_query(engine):
    noise = [f"noise{i}" for i in range(70)]
    hits = engine.search(
        [q("body", *noise[:35], "relay", *noise[35:], "route", "case")], Filters(), 10
    )
    matched = {h.case_id: h.matched for h in hits}
    assert matched["A"] == ("body:case", "body:relay") and matched["C"] == (
        "body:case",
        "body:route",
    )
    assert matched["D"] == ("body:case",) and set(matched) == ALL


@pytest.mark.parametrize(
    "text",
    [
        '"unbalanced',
        "title:foo AND (bar OR",
        "*?[]{}\\",
        "NOT",
        "AND OR NOT",
        "::::",
        "ｘ" * 300,
        "y" * 70000,
        "",
        " ",
        "\x00",
        "a b",
        "body:case",
        "[2026-01-01 TO *]",
    ],
)
def test_hostile_terms_never_raise(engine, text):
    assert (
        engine.search([q("title", text), q("body", text), q(SIGNATURE_FIELD, text)], Filters(), 10)
        == []
    )
    assert engine.doc_frequencies("body", [text]) == {text: 0}
    assert engine.matching_ids(Filters(products=(text,), tags=(text,)), among=[text]) == set()
    hits = engine.search([q("body", text, "case")], Filters(), 10)
    assert set(ids(hits)) == ALL and all(h.matched == ("body:case",) for h in hits)


def test_empty_queries_return_nothing(engine):
    assert engine.search([], Filters(), 10) == []
    assert engine.search([FieldQuery("body", ())], Filters(), 10) == []
    assert engine.search([q("no_such_field", "case")], Filters(), 10) == []


def test_delete_and_update_by_id_on_a_reopened_index(engine):
    path = engine.path
    engine.close()
    again = lexical_engine(engine.name, path, FIELDS)
    again.delete(["A", "unknown-id"])
    again.add(
        [doc("B", "renamed", "case gizmo", tags=("new",)), doc("F", "fresh", "case gizmo timeout")]
    )
    again.commit()
    assert again.doc_count() == 5
    assert ids(again.search([q("title", "mail")], Filters(), 10)) == []  # A deleted, B replaced
    assert set(ids(again.search([q("body", "gizmo")], Filters(), 10))) == {"B", "F"}
    assert again.doc_frequencies("body", ["case", "gizmo", "timeout", "smtp"]) == {
        "case": 5,
        "gizmo": 2,
        "timeout": 2,
        "smtp": 0,
    }
    assert (
        again.matching_ids(Filters(tags=("new",))) == {"B"}
        and again.matching_ids(Filters(tags=("queue",))) == set()
    )
    assert again.matching_ids(Filters()) == {"B", "C", "D", "E", "F"}
    again.close()


@pytest.mark.parametrize(
    "name",
    [
        "whoosh",
        "tantivy",
    ],
)
def test_adding_the_same_id_twice_in_one_batch_keeps_the_last(tmp_path, name):
    engine = open_engine(
        name, tmp_path / name, [doc("A", "first", "case"), doc("A", "second", "case")]
    )
    try:
        assert engine.doc_count() == 1 and ids(
            engine.search([q("title", "second")], Filters(), 10)
        ) == ["A"]
        assert engine.search([q("title", "first")], Filters(), 10) == []
    finally:
        engine.close()


def test_a_copied_folder_reopens_and_updates_alone(engine, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(engine.path, copy)  # as the incremental build does, while the original is open
    other = lexical_engine(engine.name, copy, FIELDS)
    assert other.doc_count() == 5 and ids(other.search([q("title", "alpha")], Filters(), 10)) == [
        "D"
    ]
    other.delete(["D"])
    other.commit()
    assert other.doc_count() == 4 and ids(other.search([q("title", "alpha")], Filters(), 10)) == []
    other.close()
    assert engine.doc_count() == 5 and ids(engine.search([q("title", "alpha")], Filters(), 10)) == [
        "D"
    ]
    fresh = lexical_engine(engine.name, engine.path, FIELDS)
    assert fresh.doc_count() == 5
    fresh.close()


READER = """
import json, sys
from pathlib import Path
from indexer.engines import lexical_engine
from indexer.filters import Filters
from indexer.lexical import FieldQuery, FieldSpec
engine = lexical_engine(sys.argv[1], Path(sys.argv[2]), (FieldSpec("title", "words", 2.0), FieldSpec("body", "words", 1.0)))
hits = engine.search([FieldQuery("body", (("timeout", 1.0),))], Filters(), 10)
print(json.dumps({"count": engine.doc_count(), "hits": [h.case_id for h in hits]}))
engine.close()
"""


def test_another_process_reads_a_committed_index(engine):
    out = subprocess.run(
        [sys.executable, "-c", READER, engine.name, str(engine.path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(out.stdout) == {
        "count": 5,
        "hits": ids(engine.search([q("body", "timeout")], Filters(), 10)),
    }


def test_tantivy_reads_through_a_shadow_folder_when_it_cannot_lock(tmp_path, monkeypatch):
    """Tantivy locks even to read; without write access the engine reads through links to the files."""
    from indexer import tantivy_engine

    open_engine("tantivy", tmp_path / "lexical").close()
    real = tantivy_engine.tantivy.Index

    def refuse_in_place(path: str):  # type: ignore[no-untyped-def]
        if Path(path) == tmp_path / "lexical":
            raise ValueError("Failed to acquire Lockfile: Permission denied")
        return real.open(path)

    monkeypatch.setattr(
        tantivy_engine,
        "tantivy",
        SimpleNamespace(Index=SimpleNamespace(exists=real.exists, open=refuse_in_place)),
    )
    reader = lexical_engine("tantivy", tmp_path / "lexical", FIELDS)
    shadow = Path(reader._remove_shadow.peek()[2][0])
    assert shadow.is_dir() and all(
        p.is_symlink() for p in shadow.iterdir() if not p.name.startswith(".tantivy-")
    )
    assert reader.doc_count() == 5 and ids(reader.search([q("title", "alpha")], Filters(), 10)) == [
        "D"
    ]
    reader.close()
    assert not shadow.exists() and reader.doc_count() == 5


def test_engines_rank_and_score_alike(tmp_path):
    """Short fields are length-exact in both engines, so the scores themselves agree."""
    queries = [
        [q("title", "mail", "timeout", boost=2.0), q("body", "timeout", "mail")],
        [q("body", ("alpha", 0.5), "beta")],
        [q("title", "route", boost=2.5), q("body", "case", boost=0.3)],
        [q(SIGNATURE_FIELD, "t:1a", ("s:2b", 0.4))],
    ]
    results = {}
    for name in NAMES:
        engine = open_engine(name, tmp_path / name)
        results[name] = [
            [(h.case_id, h.score, h.matched) for h in engine.search(qs, Filters(), 10)]
            for qs in queries
        ]
        engine.close()
    for whoosh_hits, tantivy_hits in zip(results["whoosh"], results["tantivy"]):
        assert [(cid, matched) for cid, _, matched in whoosh_hits] == [
            (cid, matched) for cid, _, matched in tantivy_hits
        ]
        assert [s for _, s, _ in tantivy_hits] == pytest.approx(
            [s for _, s, _ in whoosh_hits], rel=1e-5
        )


# -- whole generations through the pipeline ------------------------------------------------------

WORLD = {  # the search tests' first three cases, plus one of our own
    **{
        name: text
        for name, text in SEARCH_WORLD.items()
        if name in ("ESC-2026-0001.md", "ESC-2026-0002.md", "ESC-2026-0003.md")
    },
    "ESC-2026-0004.md": case_text(
        "ESC-2026-0004",
        title="Scheduled export stops at midnight",
        component="rest-api",
        symptoms="定期エクスポートが深夜 0 時に止まる。",
        cause="The job lock expired.",
        resolution="Raise export.lock.ttl.",
    ),
}
QUERIES = {
    "WF-20417": "ESC-2026-0002",
    "定例会議の一部の回が削除できない": "ESC-2026-0001",
    """2025-12-24 23:59:01,999 ERROR [http-nio-8443-exec-41] c.k.t.schedule.RecurrenceService - req=00ffab12 [SCH-13208] Cannot apply exception to series 9 no matching instance for 2025-12-25
        at com.kasumi.tsumugi.schedule.RecurrenceService.apply(RecurrenceService.java:231)""": "ESC-2026-0001",
    "notification mail late": "ESC-2026-0003",
}


def _answers(settings, legs):  # type: ignore[no-untyped-def]
    store = open_store(settings)
    try:
        searcher = Searcher(settings, store)
        return {
            text: [h.id for h in searcher.search(SearchRequest(text, role="admin", legs=legs)).hits]
            for text in QUERIES
        }
    finally:
        store.close()


def test_generations_built_with_each_engine_answer_alike(settings, write_cases):
    write_cases(WORLD)
    answers = {}
    for name in NAMES:
        local = settings.replace(lexical_engine=name, data_dir=settings.data_dir / name)
        report = run_index(local)
        assert report.published and not report.failed
        assert gen.Manifest.read(local.index_dir / report.generation).lexical_engine == name
        answers[name] = (
            _answers(local, ("lexical", "signature", "dense")),
            _answers(local, ("lexical",)),
        )
    hybrid, lexical = answers["tantivy"]
    assert {text: found[0] for text, found in hybrid.items()} == QUERIES
    assert (hybrid, lexical) == answers["whoosh"]


def test_incremental_update_with_tantivy(settings, write_cases):
    local = settings.replace(lexical_engine="tantivy")
    folder = write_cases(WORLD)
    first = run_index(local)
    store = open_store(local)
    reader = Searcher(local, store)
    assert reader.search(SearchRequest("WF-20417", role="admin")).hits[0].id == "ESC-2026-0002"

    (folder / "ESC-2026-0002.md").write_text(
        case_text("ESC-2026-0002", title="Gizmo42 sync stalls", symptoms="Now about gizmo42."),
        "utf-8",
    )
    (folder / "ESC-2026-0003.md").unlink()
    report = run_index(local)
    assert report.plan == {
        "mode": "incremental",
        "reason": "1 changed, 1 deleted",
        "upsert": 1,
        "delete": 1,
    }
    assert report.generation != first.generation
    response = reader.search(SearchRequest("gizmo42", role="admin", legs=("lexical",)))
    assert response.generation == report.generation and [h.id for h in response.hits] == [
        "ESC-2026-0002"
    ]
    assert reader.search(SearchRequest("WF-20417", role="admin", legs=("lexical",))).hits == []
    assert (
        reader.search(SearchRequest("notification mail late", role="admin", legs=("lexical",))).hits
        == []
    )
    assert reader.generation().lexical.doc_count() == 3
    manifest = gen.Manifest.read(local.index_dir / report.generation)
    assert (
        manifest.case_count == 3
        and manifest.extra["build_mode"] == "incremental"
        and manifest.lexical_engine == "tantivy"
    )
    store.close()


@pytest.mark.parametrize("name", NAMES)
def test_threads_sharing_one_engine_each_get_their_own_answers(name, tmp_path):
    """A web worker's threads search one open engine at once. whoosh's searcher reads through
    shared file objects (seek, then read): shared between threads, their reads interleave and come
    back as unpickling or zlib errors. A tiny thread switch interval makes the interleaving likely."""
    import threading

    words = [f"w{n}" for n in range(40)]
    engine = lexical_engine(name, tmp_path / "lexical", FIELDS, create=True)
    engine.add(doc(f"C{n}", f"{w} title", f"case {w} body text") for n, w in enumerate(words))
    engine.commit()
    failures: list[str] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)

    def search(seed: int) -> None:
        for k in range(150):
            n = (seed * 7 + k) % len(words)
            try:
                got = ids(engine.search([q("body", words[n])], Filters(), 5))
            except Exception as exc:  # noqa: BLE001 - every failure is what this test counts
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            if got != [f"C{n}"]:
                failures.append(f"{words[n]} -> {got}")

    try:
        threads = [threading.Thread(target=search, args=(t,)) for t in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
        engine.close()
    assert not failures, failures[:5]


@pytest.mark.parametrize("name", NAMES)
def test_a_thread_per_request_leaves_no_open_files_behind(name, tmp_path):
    """``kb serve`` answers each request in a thread of its own: an engine that kept each finished
    thread's searcher open grew by a file and about 6 MB a search until the server died."""
    import os
    import threading

    engine = open_engine(name, tmp_path / "lexical")

    def one_request() -> None:
        assert ids(engine.search([q("body", "smtp")], Filters(), 5)) == ["A"]

    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    try:
        for _ in range(3):  # warm: what a first search opens once
            thread = threading.Thread(target=one_request)
            thread.start()
            thread.join()
        before = open_files()
        for _ in range(60):
            thread = threading.Thread(target=one_request)
            thread.start()
            thread.join()
        assert open_files() <= before + 2
    finally:
        engine.close()
