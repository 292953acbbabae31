#!/usr/bin/env python3
"""Server-side latency of the web search: index the sample corpus, then time ~200 requests.

Uses Flask's test client (no network), so the numbers are what the server spends per request:
parameter parsing, search, facet counts, the search log write and HTML rendering.

    .venv/bin/python scripts/bench_web.py                 # the packaged embedding model
    .venv/bin/python scripts/bench_web.py --model hash:256  # the fast fake encoder
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kb.activity import percentile  # noqa: E402
from indexer.jobs import run_index  # noqa: E402
from kb.settings import DEFAULT_MODEL, load_settings  # noqa: E402
from webui import create_app  # noqa: E402

# Each pass sends every query once more with different filters (a new search for the engines,
# the same text for the query-vector cache).
PASSES: tuple[dict[str, str], ...] = ({}, {"status": "resolved"}, {"product": "tsumugi-server"})


def summary(label: str, values: list[float]) -> str:
    ordered = sorted(values)
    return (f"{label:<34} n={len(values):<4} p50={percentile(ordered, 50):7.1f} ms  p95={percentile(ordered, 95):7.1f} ms  "
            f"max={ordered[-1]:7.1f} ms  mean={statistics.fmean(values):6.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="embedding model (default: the default setting)")
    parser.add_argument("--requests", type=int, default=200, help="how many timed /search requests")
    parser.add_argument("--queries", type=Path, default=REPO / "tests" / "data" / "eval" / "queries.jsonl")
    parser.add_argument("--api", action="store_true", help="also time /api/v1/search")
    args = parser.parse_args()

    queries = [json.loads(line)["query"] for line in args.queries.read_text("utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(environ={}, cases_dir=REPO / "cases", data_dir=Path(tmp) / "data", embed_model=args.model)
        started = time.perf_counter()
        report = run_index(settings)
        print(f"index: {report.summary()} ({time.perf_counter() - started:.1f}s, model {args.model})")
        app = create_app(settings)
        client = app.test_client()
        client.get("/search", query_string={"q": "warm-up"})  # loads the generation and the encoder

        plan = list(islice(((q, flt, n) for n, flt in enumerate(PASSES) for q in queries), args.requests))
        plan += list(islice(cycle(plan), max(0, args.requests - len(plan))))
        timings: dict[int, list[float]] = {}
        for text, flt, n in plan:
            t0 = time.perf_counter()
            response = client.get("/search", query_string={"q": text, **flt})
            elapsed = (time.perf_counter() - t0) * 1000
            if response.status_code != 200:
                print(f"error {response.status_code} for {text[:40]!r}", file=sys.stderr)
                return 1
            timings.setdefault(n, []).append(elapsed)
        everything = [t for values in timings.values() for t in values]
        print(summary("GET /search (all)", everything))
        print(summary("GET /search (first pass, cold text)", timings[0]))

        if args.api:
            api = []
            for text in queries:
                t0 = time.perf_counter()
                client.get("/api/v1/search", query_string={"q": text, "status": "workaround"})
                api.append((time.perf_counter() - t0) * 1000)
            print(summary("GET /api/v1/search", api))

        from kb.activity import SearchLog
        from sqlalchemy import select

        with app.extensions["kb"].store.session() as session:
            logged = sorted(session.scalars(select(SearchLog.latency_ms).where(SearchLog.source == "web")).all())
        print(summary("logged search+facets (web)", logged[1:] if len(logged) > 1 else logged))
        app.extensions["kb"].close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
