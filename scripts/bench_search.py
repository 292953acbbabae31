"""Search benchmark on a synthetic corpus: build time, throughput, peak memory, query latency.

Usage: python scripts/bench_search.py [--cases 10000] [--model NAME] [--queries 300] [--keep DIR]
The model is loaded and the index opened once; queries run one at a time (p50/p95 per kind).
Figures go in the README ("Speed"); this is a benchmark, never a timed unit test.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

from indexer.evaluate import DEFAULT_QUERIES, load_queries
from indexer.searcher import SearchRequest, Searcher
from kb.parse import read_case_file
from kb.pipeline import open_store, run_index
from kb.settings import load_settings

import synth_cases  # noqa: E402  (scripts/ is on sys.path when run as a script)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_queries(cases_dir: Path, n: int, rng: random.Random) -> list[tuple[str, str]]:
    files = sorted(cases_dir.glob("*.md"))
    picked = [read_case_file(p)[0] for p in rng.sample(files, min(n, len(files)))]
    picked = [c for c in picked if c is not None]
    queries: list[tuple[str, str]] = [(q.kind, q.query) for q in load_queries(DEFAULT_QUERIES)]
    for case in picked:
        queries.append(("code", case.error_codes[0]))
        queries.append(("words", case.section_text("symptoms")[:80]))
        logs = case.section_text("logs").strip("`\ntext").splitlines()
        queries.append(("log", "\n".join(logs[:3])))
    rng.shuffle(queries)
    return queries[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--model", default=None, help="embedding model (default: the setting)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--keep", type=Path, help="keep the corpus and data here (reused when present)")
    args = parser.parse_args()
    rng = random.Random(11)
    root = args.keep or Path(tempfile.mkdtemp(prefix="kb-bench-"))
    cases_dir, data_dir = root / "cases", root / "data"
    if not cases_dir.exists():
        t = time.perf_counter()
        synth_cases.generate(cases_dir, args.cases)
        print(f"generated {args.cases} cases in {time.perf_counter() - t:.1f}s", flush=True)
    overrides = {"embed_model": args.model} if args.model else {}
    settings = load_settings(cases_dir=cases_dir, data_dir=data_dir, **overrides)

    t = time.perf_counter()
    report = run_index(settings, progress=lambda m: print(m, flush=True) if "/" not in m or m.startswith("embedded") and m.split()[1].split("/")[0].endswith("000") else None)
    build_s = time.perf_counter() - t
    peak_build_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    nochange = run_index(settings)
    nochange_s = time.perf_counter() - t

    store = open_store(settings)
    searcher = Searcher(settings, store)
    queries = bench_queries(cases_dir, args.queries, rng)
    for _, text in queries[:10]:  # warm-up: model and index loaded once
        searcher.search(SearchRequest(text, role="support"))
    latencies: dict[str, list[float]] = {}
    for kind, text in queries:
        t = time.perf_counter()
        searcher.search(SearchRequest(text, role="support"))
        latencies.setdefault(kind, []).append((time.perf_counter() - t) * 1000)
    everything = [v for vals in latencies.values() for v in vals]
    generation = settings.index_dir / report.generation  # type: ignore[operator]
    result = {
        "cases": report.build.get("case_count"), "chunks": report.build.get("chunk_count"), "model": settings.embed_model,
        "build_seconds": round(build_s, 1), "cases_per_second": round(report.build.get("case_count", 0) / build_s, 1),
        "chunks_embedded_per_second": round(report.build.get("embedded", 0) / max(1e-9, report.build.get("seconds", 1)), 1),
        "no_change_run_seconds": round(nochange_s, 2), "index_mb": round(folder_size(generation) / 2**20, 1),
        "store_mb": round((data_dir / "kb.sqlite3").stat().st_size / 2**20, 1),
        "peak_rss_build_mb": round(peak_build_mb), "peak_rss_total_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "query_ms": {"all": {"p50": round(statistics.median(everything), 1), "p95": round(percentile(everything, 0.95), 1), "n": len(everything)}}
        | {k: {"p50": round(statistics.median(v), 1), "p95": round(percentile(v, 0.95), 1), "n": len(v)} for k, v in sorted(latencies.items())},
    }
    print(json.dumps(result, indent=2))
    store.close()


if __name__ == "__main__":
    main()
