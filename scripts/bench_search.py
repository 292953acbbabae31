"""Search benchmark on a synthetic corpus: build time, throughput, sizes, memory, query latency.

Usage:
  python scripts/bench_search.py --cases 10000                       # real model for corpus and queries
  python scripts/bench_search.py --smoke                             # 30 cases, 15 queries, hashing encoder: seconds
  python scripts/bench_search.py --cases 100000 --corpus-model hash:384
      # the defaults (KB_LEXICAL_ENGINE=auto: tantivy at this size; --engine whoosh|tantivy to force one)
      # corpus vectors from the hashing encoder (same dimension and faiss index type as the real
      # model, so search cost is the same) when embedding 400k chunks on 2 cores would take hours;
      # queries are still encoded by the real model.

The build runs in this process; the queries run in a fresh subprocess that opens the index and
loads the model once, like one web worker, and reports its own peak memory. Queries run one at
a time; p50/p95 per kind (words / error code / pasted log). Figures go in the README ("Speed").
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from indexer.evaluate import DEFAULT_QUERIES, load_queries  # noqa: E402
from indexer.fusion import default_method, default_weights, model_languages, weight_spec  # noqa: E402
from kb.language import detect_language  # noqa: E402
from kb.parse import read_case_file  # noqa: E402
from kb.settings import DEFAULT_MODEL, load_settings  # noqa: E402


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def proc_status_mb(field: str) -> float | None:
    """A memory figure of this process from /proc/self/status (Linux), in MB; None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM where /proc has it: ru_maxrss survives exec, so a
    subprocess started by a large build would report the build's peak."""
    peak = proc_status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_queries(cases_dir: Path, n: int, rng: random.Random) -> list[tuple[str, str]]:
    """Evaluation-set queries plus error codes, symptoms and log lines of random synthetic cases."""
    files = sorted(cases_dir.glob("*.md"))
    picked = [read_case_file(p)[0] for p in rng.sample(files, min(n, len(files)))]
    queries: list[tuple[str, str]] = [(q.kind, q.query) for q in load_queries(DEFAULT_QUERIES)]
    for case in filter(None, picked):
        queries.append(("code", case.error_codes[0]))
        queries.append(("words", case.section_text("symptoms")[:80]))
        logs = [
            line for line in case.section_text("logs").splitlines() if not line.startswith("```")
        ]
        queries.append(("log", "\n".join(logs[:3])))
    rng.shuffle(queries)
    return queries[:n]


def build(args: argparse.Namespace, root: Path) -> dict:
    import synth_cases

    from indexer.jobs import run_index

    cases_dir = root / "cases"
    if not cases_dir.exists():
        t = time.perf_counter()
        synth_cases.generate(cases_dir, args.cases)
        print(f"generated {args.cases} cases in {time.perf_counter() - t:.1f}s", flush=True)
    fusion = {}
    if (
        args.corpus_model and model_languages(args.model) == "multi"
    ):  # fuse as the query model's own generation would
        fusion = {
            "fusion_weights": weight_spec(default_weights(args.model)),
            "fusion_method": default_method(args.model),
        }
    settings = load_settings(
        cases_dir=cases_dir,
        data_dir=root / "data",
        embed_model=args.corpus_model or args.model,
        lexical_engine=args.engine,
        **fusion,
    )
    t = time.perf_counter()
    report = run_index(
        settings, progress=lambda m: print(m, flush=True) if not m.startswith("embedded") else None
    )
    build_s = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    run_index(settings)
    nochange_s = time.perf_counter() - t
    generation = settings.index_dir / str(report.generation)
    manifest = json.loads((generation / "manifest.json").read_text("utf-8"))
    b = report.build or {
        "case_count": manifest["case_count"],
        "chunk_count": manifest["chunk_count"],
    }
    return {
        "cases": b.get("case_count"),
        "chunks": b.get("chunk_count"),
        "engine": manifest["lexical_engine"],
        "engine_setting": args.engine,
        "store_load_seconds": round(build_s - float(b.get("seconds") or 0.0), 1),
        "index_build_seconds": round(float(b.get("seconds") or 0.0), 1),
        "build_plan": report.plan.get(
            "mode"
        ),  # "none": a kept corpus, build figures are a no-change run's
        "corpus_model": settings.embed_model,
        "build_seconds": round(build_s, 1),
        "cases_per_second": round((b.get("case_count") or 0) / build_s, 1),
        "chunks_embedded": b.get("embedded"),
        "no_change_run_seconds": round(nochange_s, 2),
        "index_mb": round(folder_size(generation) / 2**20, 1),
        "lexical_mb": round(folder_size(generation / "lexical") / 2**20, 1),
        "store_mb": round((root / "data" / "kb.sqlite3").stat().st_size / 2**20, 1),
        "peak_rss_build_mb": round(peak),
    }


def warm_page_cache(*places: Path) -> None:
    """Read the generation's files and the store once, as a host that has been serving them holds
    them in the page cache (the vectors are memory-mapped: a cold first touch would time the disk)."""
    for path in (p for place in places for p in ([place] if place.is_file() else place.rglob("*"))):
        if path.is_file():
            with path.open("rb") as fh:
                while fh.read(1 << 24):
                    pass


PROBE_LOG = "\n".join(
    f"2026-03-0{i} 10:15:0{i},123 ERROR [exec-{i}] c.k.t.mail.SmtpRelay - MAIL-4{i}21 relay refused "
    f"after 3000{i} ms req=8f3a9c2d1e{i} user=tanaka"
    for i in range(1, 4)
)


def encoder_probe_ms(encoder) -> float:  # type: ignore[no-untyped-def]
    """Median time to encode one fixed 3-line log: how fast this machine is right now, so runs at
    different times (the machine may be shared) can be compared."""
    times = []
    for _ in range(25):
        started = time.perf_counter()
        encoder.encode_queries([PROBE_LOG])
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times[5:]), 1)


def serve_queries(root: Path, model: str, n: int, engine: str) -> dict:
    """Runs in a fresh process: open the index, load the model, answer queries one at a time."""
    from indexer.dense import encoder_for
    from indexer.searcher import Searcher, SearchRequest
    from kb.migrate import open_store

    settings = load_settings(
        cases_dir=root / "cases", data_dir=root / "data", lexical_engine=engine
    )
    encoder = encoder_for(settings, model)
    traced = encoder.prepare_queries()  # as `kb serve` and gunicorn workers do when they start
    searcher = Searcher(settings, open_store(settings), encoder_loader=lambda _name: encoder)
    queries = bench_queries(root / "cases", n, random.Random(11))
    warm_page_cache(
        settings.index_dir / searcher.generation().name, settings.data_dir / "kb.sqlite3"
    )
    probe = encoder_probe_ms(encoder)
    for _, text in queries[:10]:
        searcher.search(SearchRequest(text, role="support"))
    latencies: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    own: dict[str, list[float]] = {}
    by_language: dict[str, list[float]] = {}
    for kind, text in queries:
        t, c, o = time.perf_counter(), time.process_time(), time.thread_time()
        searcher.search(SearchRequest(text, role="support"))
        latencies.setdefault(kind, []).append((time.perf_counter() - t) * 1000)
        if kind == "words":  # the two languages run different model legs (docs "Performance")
            by_language.setdefault(detect_language(text), []).append(latencies[kind][-1])
        cpu.setdefault(kind, []).append((time.process_time() - c) * 1000)
        own.setdefault(kind, []).append((time.thread_time() - o) * 1000)

    def stats(values: dict[str, list[float]]) -> dict[str, dict[str, float]]:
        every = [v for vals in values.values() for v in vals]
        return {
            "all": {
                "p50": round(statistics.median(every), 1),
                "p95": round(percentile(every, 0.95), 1),
                "n": len(every),
            }
        } | {
            k: {
                "p50": round(statistics.median(v), 1),
                "p95": round(percentile(v, 0.95), 1),
                "n": len(v),
            }
            for k, v in sorted(values.items())
        }

    return {
        "query_ms": stats(latencies),
        # CPU time of the whole process per query (every thread): what a query costs whatever else
        # the machine runs; on an idle machine its wall time is at most this (legs run side by side)
        "query_cpu_ms": stats(cpu),
        # CPU time of the calling thread alone: the lexical legs, fusion and hydration, without
        # the model legs (their own threads) and without the engine's idle OpenMP threads spinning
        "query_thread_cpu_ms": stats(own),
        # worded queries by the language search detects (ja: one model leg; en: two side by side)
        "words_by_language_ms": {k: v for k, v in stats(by_language).items() if k != "all"},
        "worker_peak_rss_mb": round(peak_rss_mb()),
        "vector_index": searcher.generation().vectors.kind,
        "query_precision": encoder.precision,
        "query_model": "traced" if traced else "as loaded",
        "encoder_probe_ms": probe,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="model that encodes the queries (default: the default setting)",
    )
    parser.add_argument(
        "--corpus-model", default=None, help="model that encodes the corpus (default: --model)"
    )
    parser.add_argument(
        "--engine",
        default="auto",
        help="KB_LEXICAL_ENGINE for the build (default: auto, as the product)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="30 cases, 15 queries, the hashing encoder: only that it runs and prints its figures",
    )
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--keep", type=Path, help="keep the corpus and data here (reused when present)"
    )
    parser.add_argument(
        "--serve", type=Path, help=argparse.SUPPRESS
    )  # internal: the query subprocess
    args = parser.parse_args()
    if args.smoke:
        args.cases, args.queries, args.model, args.corpus_model = 30, 15, "hash:384", None
    if args.serve:
        print(json.dumps(serve_queries(args.serve, args.model, args.queries, args.engine)))
        return
    root = args.keep or Path(tempfile.mkdtemp(prefix="kb-bench-"))
    result = build(args, root)
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--serve",
            str(root),
            "--model",
            args.model,
            "--queries",
            str(args.queries),
            "--engine",
            args.engine,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result |= json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
