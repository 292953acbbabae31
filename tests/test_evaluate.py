import json

import pytest
from conftest import SAMPLE_CASES, case_text

from indexer.evaluate import (
    DEFAULT_QUERIES,
    beir_cases,
    beir_queries,
    evaluate,
    load_queries,
    score_rankings,
)
from indexer.hashing_encoder import HashingEncoder
from kb.corpus import load_cases
from kb.errors import InvalidInputError, KBError
from kb.settings import load_settings


def test_bundled_evaluation_set_is_valid_and_balanced():
    queries = load_queries(DEFAULT_QUERIES)
    settings = load_settings(environ={})
    ids = {
        c.id for c in load_cases([SAMPLE_CASES], settings.id_regex, settings.max_case_bytes).cases
    }
    assert len(queries) >= 80
    assert all(set(q.relevant) <= ids for q in queries)
    assert {q.kind for q in queries} == {"words", "code", "log"}
    langs = [q.lang for q in queries]
    assert langs.count("ja") >= 0.4 * len(queries) and langs.count("en") >= 0.4 * len(queries)
    assert ids <= {
        cid for q in queries for cid in q.relevant
    }  # every case is the answer to some query


def test_bad_query_lines_name_file_and_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"query": "a", "relevant": ["X"]}\n{"query": "b", "relevant": "X"}\n')
    with pytest.raises(InvalidInputError, match=r"q.jsonl:2: invalid evaluation query") as error:
        load_queries(path)
    assert error.value.status == 422
    path.write_text('{"query": "a", "relevant": ["X"], "kind": "poem"}\n')
    with pytest.raises(KBError, match=":1:"):
        load_queries(path)


def test_queries_without_relevant_cases_are_unanswerable_and_scored_on_showing_no_match(tmp_path):
    from indexer.evaluate import EvalQuery, matching_figures

    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"query": "printer toner", "lang": "en"}\n{"query": "プリンター", "relevant": []}\n'
    )
    assert [q.relevant for q in load_queries(path)] == [{}, {}]
    queries = [
        EvalQuery("a", {}, "words", "en"),
        EvalQuery("b", {}, "words", "ja"),
        EvalQuery("c", {}, "words", "ja"),
        EvalQuery("d", {"X": 1.0}, "words", "en"),
        EvalQuery("e", {"Y": 1.0}, "words", "en"),
    ]
    rankings = [
        ("en", {}, {}, {}, []),
        ("ja", {}, {}, {}, ["Z"]),
        ("ja", {}, {}, {}, []),
        ("en", {}, {}, {}, ["X"]),
        ("en", {}, {}, {}, ["Z"]),
    ]
    figures = matching_figures(queries, rankings)
    assert figures == {
        "unanswerable": 3,
        "no_match": 0.667,
        "no_match_ja": 0.5,
        "no_match_en": 1.0,
        "answerable": 2,
        "relevant_matched": 0.5,
    }
    # Y is a declared related case of Z, which matches: search counts it when a leg ranked it
    ranked_y = [*rankings[:4], ("en", {"lexical": ["Z", "Y"]}, {}, {}, ["Z"])]
    assert matching_figures(queries, ranked_y, {"Z": ["Y"]})["relevant_matched"] == 1.0
    assert (
        matching_figures(queries, rankings, {"Z": ["Y"]})["relevant_matched"] == 0.5
    )  # not ranked


def test_beir_loader(tmp_path):
    (tmp_path / "corpus.jsonl").write_text(
        json.dumps({"_id": "d1", "title": "Gmail filter", "text": "How to filter mail"})
        + "\n"
        + json.dumps({"_id": "d2", "title": "", "text": "富士山の高さは3776メートル"})
        + "\n"
    )
    (tmp_path / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "filter my mail"})
        + "\n"
        + json.dumps({"_id": "q2", "text": "unjudged"})
        + "\n"
    )
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    cases = beir_cases(tmp_path)
    assert [c.id for c in cases] == ["d1", "d2"] and cases[1].lang == "ja"
    queries = beir_queries(tmp_path)
    assert [q.qid for q in queries] == ["q1"] and queries[0].relevant == {"d1": 1.0}


def test_evaluate_scores_each_leg_and_the_hybrid(tmp_path):
    from kb.parse import parse_case

    cases = [
        parse_case(
            case_text(
                "ESC-2026-0001", title="Mail delayed", symptoms="notification mail arrives late"
            ),
            "ESC-2026-0001.md",
        ),
        parse_case(
            case_text("ESC-2026-0002", title="Approval stuck", symptoms="approver cannot approve"),
            "ESC-2026-0002.md",
        ),
    ]
    path = tmp_path / "q.jsonl"
    path.write_text(
        json.dumps(
            {"query": "mail late", "relevant": ["ESC-2026-0001"], "kind": "words", "lang": "en"}
        )
        + "\n"
    )
    settings = load_settings(environ={}, data_dir=tmp_path / "data", embed_model="hash:64")
    report = evaluate(cases, load_queries(path), settings, HashingEncoder(64), baseline=True)
    assert set(report.variants) == {"lexical", "dense", "sparse", "hybrid", "lexical-baseline"}
    assert report.variants["hybrid"]["ndcg@10"] == 1.0 and report.variants["hybrid"]["queries"] == 1
    assert report.variants["lexical"]["splits"]["lang"]["en"]["queries"] == 1


def test_score_rankings_uses_fusion_weights():
    from indexer.evaluate import EvalQuery

    q = EvalQuery("x", {"b": 1.0}, "words", "en")
    ranked = [("en", {"lexical": ["a", "b"], "dense": ["b", "c"]}, {})]
    heavy_dense = score_rankings([q], ranked, {"en": {"lexical": 1.0, "dense": 5.0}, "ja": {}}, 60)
    no_dense = score_rankings([q], ranked, {"en": {"lexical": 1.0, "dense": 0.0}, "ja": {}}, 60)
    assert heavy_dense["hybrid"]["success@1"] == 1.0 and no_dense["hybrid"]["success@1"] == 0.0
    pasted = EvalQuery(
        "2026-03-01 10:00:00 ERROR x failed SCH-1\n2026-03-01 10:00:01 ERROR y",
        {"b": 1.0},
        "log",
        "en",
    )
    named = score_rankings(
        [pasted], [("en", {"lexical": ["a", "b"]}, {"b": 1})], {"en": {"lexical": 1.0}}, 60
    )
    assert named["hybrid"]["success@1"] == 0.0  # a pasted log: the code is evidence, not a tier
    code = EvalQuery("SCH-1", {"b": 1.0}, "code", "en")
    named = score_rankings(
        [code], [("en", {"lexical": ["a", "b"]}, {"b": 1})], {"en": {"lexical": 1.0}}, 60
    )
    assert named["hybrid"]["success@1"] == 1.0  # a code query: the case listing it first


def test_tune_fusion_smoke_run_chooses_weights_per_cell():
    import json
    import subprocess
    import sys

    from conftest import REPO

    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "tune_fusion.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    chosen = json.loads(out.stdout)
    assert set(chosen) == {"rrf", "convex", "convex-unfair"}
    for cells in chosen.values():
        assert cells and set(cells) <= {
            f"{lang}.{kind}" for lang in ("ja", "en") for kind in ("words", "code", "log")
        }
        for name, cell in cells.items():
            assert (
                set(cell["weights"]) == {"lexical", "signature", "dense", "sparse"}
                and 0 <= cell["mean"] <= 1
            )
            assert cell["exact_tier"] == (
                not name.endswith(".log")
            )  # the tier is the kind's policy
            per = cell["per_collection"]
            assert set(per) == set(cell["queries"]) and all(0 <= v <= 1 for v in per.values())
            assert cell["mean"] == pytest.approx(
                sum(per.values()) / len(per), abs=1e-3
            )  # the mean is of the collections
            if cell["never_below_best_leg"]:
                assert all(per[n] >= cell["best_leg"][n] - 1e-3 for n in per)


def test_tune_fusion_reuses_a_cache_of_text_leg_matches_and_recomputes_an_older_one(
    tmp_path, write_cases, monkeypatch
):
    import importlib.util

    from conftest import REPO

    spec = importlib.util.spec_from_file_location(
        "tune_fusion", REPO / "scripts" / "tune_fusion.py"
    )
    tune = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tune)
    folder = write_cases(
        {
            "ESC-2026-0001.md": case_text("ESC-2026-0001"),
            "ESC-2026-0002.md": case_text(
                "ESC-2026-0002", title="Mail stuck", symptoms="Mail is not sent."
            ),
        }
    )
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        json.dumps({"query": "mail is not sent", "relevant": ["ESC-2026-0002"], "kind": "words"})
        + "\n",
        "utf-8",
    )
    monkeypatch.setitem(tune.COLLECTIONS, "tiny", {"cases": folder, "queries": [queries]})
    cache = tmp_path / "cache"
    computed = []
    real_index = tune.index_cases
    monkeypatch.setattr(tune, "index_cases", lambda *a: computed.append(1) or real_index(*a))
    first = tune.rankings("tiny", "hash:64", None, cache)
    assert computed == [1] and first["ranked"][0][4] == ["ESC-2026-0002"]  # the words match
    again = tune.rankings("tiny", "hash:64", None, cache)
    assert computed == [1] and again["ranked"] == first["ranked"]  # from the cache
    assert again["floors"] == tune.evidence.floors_for("hash:64")
    path = next(cache.glob("tiny-*.json"))
    older = json.loads(path.read_text("utf-8"))
    older.pop("matches")  # a cache made when the matches were every leg's
    path.write_text(json.dumps(older), "utf-8")
    tune.rankings("tiny", "hash:64", None, cache)
    assert computed == [1, 1]


def test_the_sweep_reads_the_dense_floor_for_the_query_s_language():
    from indexer.evaluate import with_model_matches
    from indexer.evidence import Floors

    ranking = (
        "ja",
        {"lexical": ["X", "D"], "dense": ["D", "X"]},
        {},
        {"lexical": [9.0, 1.0], "dense": [0.9, 0.5]},
        ["X"],
    )
    table = {"ja": {"words": {"lexical": 1.0, "dense": 3.0}}}
    english_floor = Floors(dense_similarity=0.87, dense_similarity_langs=("en",))
    every_language = Floors(dense_similarity=0.87)
    query = "印刷が止まる 毎朝"
    assert with_model_matches(query, ranking, table, english_floor)[4] == ["X"]
    assert with_model_matches(query, ranking, table, every_language)[4] == ["D", "X"]
