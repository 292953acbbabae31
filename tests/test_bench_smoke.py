"""The trends and watch benchmarks run in the suite in smoke mode (5,000 searches), on SQLite and
(with KB_TEST_DATABASE_URL) PostgreSQL, so they cannot rot between the runs that give the figures."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def _run(script: str, store_url: str) -> str:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), "--smoke", "--database-url", store_url],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_bench_trends_smoke(store_url):
    out = _run("bench_trends.py", store_url)
    assert "trends query window=week" in out and "/trends page window=week" in out and "p95" in out


def test_bench_watch_smoke(store_url):
    out = _run("bench_watch.py", store_url)
    assert "kb watch run" in out and "1 burst(s) alerted per run" in out and "p95" in out


# -- issue 18: every benchmark script runs in a tiny smoke mode and prints its figures ----------------

import json  # noqa: E402
import re  # noqa: E402


def _smoke(script: str, *args: str, timeout: int = 600) -> str:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), "--smoke", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    return result.stdout


def _last_json(out: str):  # type: ignore[no-untyped-def]
    """The last JSON document a script printed (a pretty-printed one starts at a line of its own)."""
    lines = out.rstrip().splitlines()
    for start in range(len(lines) - 1, -1, -1):
        if lines[start][:1] in "{[":
            try:
                return json.loads("\n".join(lines[start:]))
            except ValueError:
                continue
    raise AssertionError(f"no JSON in: {out[-500:]}")


def _sane(stats: dict) -> None:
    assert stats["p95"] >= stats["p50"] > 0 and stats["n"] > 0, stats


def test_bench_search_smoke():
    result = _last_json(_smoke("bench_search.py"))
    assert (
        result["cases"] == 30 and result["chunks"] > 0 and result["engine"] == "whoosh"
    )  # auto, at 30 cases
    for stats in result["query_ms"].values():
        _sane(stats)
    assert result["query_ms"]["all"]["p50"] > 0 and result["worker_peak_rss_mb"] > 0
    by_language = result["words_by_language_ms"]
    assert (
        set(by_language) <= {"ja", "en"}
        and sum(s["n"] for s in by_language.values())
        == (result["query_ms"].get("words", {"n": 0})["n"])
    )
    assert (
        result["build_seconds"] >= result["index_build_seconds"] > 0
        and result["store_load_seconds"] > 0
    )


def test_bench_embed_smoke():
    result = _last_json(_smoke("bench_embed.py"))["float32"]
    assert (
        result["chunks"] > 0
        and result["raw_per_s"] > 0
        and result["index_per_s"] > 0
        and result["embed_per_s"] > 0
    )
    assert result["raw_with_sparse_per_s"] <= result["raw_per_s"] and 0 < result["index_vs_raw"]


def test_bench_lexical_smoke():
    out = _smoke("bench_lexical.py")
    results = _last_json(out)
    assert results[0]["cases"] == 30 and {"whoosh", "tantivy"} <= set(results[0]["engines"])
    for engine in results[0]["engines"].values():
        assert engine["build_s"] > 0 and engine["index_mb"] > 0
        for stats in engine["query_ms"].values():
            _sane(stats)
    if "bm25s" in results[0]["engines"]:  # the reference, when the 'bench' extra is installed
        assert re.search(r"30 cases: tantivy / bm25s all kinds p50 [\d.]+x, p95 [\d.]+x", out)


def test_bench_ann_smoke():
    result = _last_json(_smoke("bench_ann.py"))
    assert result["chunks"] > 0 and result["queries"] == 10
    for leg in result["ef"]["400"].values():
        assert (
            0.5 <= leg["case_recall@10"] <= 1 and 0.5 <= leg["chunk_recall@400"] <= 1
        )  # HNSW on 120 vectors: near exact
        assert leg["p95_ms"] >= leg["p50_ms"] > 0


def test_bench_web_smoke_signs_in_like_a_client():
    out = _smoke("bench_web.py")
    figures = dict(
        re.findall(
            r"^(GET /search \(all\)|GET /api/v1/search)\s+n=\d+\s+(p50=\s*[\d.]+ ms\s+p95=\s*[\d.]+ ms)",
            out,
            re.M,
        )
    )
    assert set(figures) == {"GET /search (all)", "GET /api/v1/search"}, out
    for text in figures.values():
        p50, p95 = (
            float(v)
            for v in re.fullmatch(r"p50=\s*([\d.]+) ms\s+p95=\s*([\d.]+) ms", text).groups()
        )
        assert p95 >= p50 > 0
    assert re.search(r"HTML /search vs API p95: [\d.]+x", out)


def test_bench_load_smoke():
    result = _last_json(_smoke("bench_load.py"))
    assert (
        result["added"] == 20
        and result["failed"] == 0
        and result["files_per_second"] > 0
        and result["unchanged"] == 20
    )


def test_bench_memory_smoke():
    result = _last_json(_smoke("bench_memory.py"))
    assert result["workers"] == 2 and len(result["per_worker"]) == 2 and result["searches"] > 0
    assert all(w["pss_mb"] > 0 and w["rss_mb"] >= w["pss_mb"] for w in result["per_worker"])
    assert result["host_pss_mb"] <= result["host_rss_sum_mb"] and not result["torch_in_a_worker"]


def test_tune_lexical_smoke():
    out = _smoke("tune_lexical.py")
    found = re.search(
        r"sudachi=C standard\s+ndcg@10=([\d.]+) recall@5=([\d.]+) success@1=([\d.]+) \(n=8\)", out
    )
    assert found and all(0 < float(v) <= 1 for v in found.groups())


# churn_check.py --smoke runs in tests/test_jobs.py, tune_fusion.py --smoke in tests/test_evaluate.py.


def test_bench_learned_smoke():
    out = _smoke("bench_learned.py")
    (result,) = _last_json(out)
    assert result["phrasings"] == 200 and result["queries"] == 20
    assert result["found_share"] == 1.0  # a query next to a phrasing finds its case first
    assert result["p95_ms"] >= result["p50_ms"] > 0
    assert "200 phrasings: p50" in out
