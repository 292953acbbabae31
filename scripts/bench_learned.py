"""The learned leg's cost per query and its memory, by how many learned phrasings count.

Usage:
  python scripts/bench_learned.py                      # 1,000, 20,000 and 100,000 phrasings
  python scripts/bench_learned.py --phrasings 5000 --queries 500
  python scripts/bench_learned.py --smoke              # 200 phrasings, 20 queries: seconds

The leg compares a query's vector to every counting phrasing (``indexer.learned_leg``: one matrix
product, then the cases from the threshold): random unit vectors of the default model's dimension
(384), five phrasings per case, queries near one phrasing each, so that the leg returns a case as
it does when it helps. Reports p50 / p95 ms per query (one at a time, the generation's files
memory-mapped as a web worker opens them) and the files' size. Figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer.learned_leg import (  # noqa: E402
    FLOORS_FILE,
    IDS_FILE,
    VECTORS_FILE,
    LearnedVectors,
    other_case_nearest,
)

DIM = 384
PER_CASE = 5
THRESHOLD = 0.88


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def measure(phrasings: int, queries: int, seed: int = 7) -> dict[str, float]:
    """One size: the files written, opened like a worker, ``queries`` searches timed."""
    rng = np.random.default_rng(seed)
    matrix = unit(rng.standard_normal((phrasings, DIM)).astype(np.float32))
    ids = [f"ESC-{n // PER_CASE:06d}" for n in range(phrasings)]
    started = time.perf_counter()  # the build's part: each phrasing's floor
    floors = other_case_nearest(matrix, ids)
    floors_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="kb-bench-learned-") as tmp:
        folder = Path(tmp)
        np.save(folder / VECTORS_FILE, matrix)
        np.save(folder / FLOORS_FILE, floors)
        (folder / IDS_FILE).write_text(json.dumps(ids), "utf-8")
        leg = LearnedVectors.load(folder)
        assert leg is not None
        targets = rng.integers(0, phrasings, queries)
        noise = rng.standard_normal((queries, DIM)).astype(np.float32) * 0.015
        asked = unit(matrix[targets] + noise)
        times, found = [], 0
        for vector, target in zip(asked, targets):
            started = time.perf_counter()
            hits = leg.search(vector, THRESHOLD, distinct=True)
            times.append((time.perf_counter() - started) * 1000)
            found += bool(hits) and hits[0][0] == ids[target]
        size = sum((folder / name).stat().st_size for name in (VECTORS_FILE, IDS_FILE, FLOORS_FILE))
    times.sort()
    return {
        "phrasings": phrasings,
        "queries": queries,
        "p50_ms": round(statistics.median(times), 3),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 3),
        "found_share": round(found / queries, 3),
        "files_mb": round(size / 2**20, 1),
        "build_floors_s": round(floors_s, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phrasings", type=int, action="append", help="sizes (repeatable)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="200 phrasings, 20 queries")
    args = parser.parse_args(argv)
    sizes = [200] if args.smoke else (args.phrasings or [1000, 20000, 100000])
    queries = 20 if args.smoke else args.queries
    results = [measure(n, queries) for n in sizes]
    for r in results:
        print(
            f"{r['phrasings']:>7} phrasings: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms per query, "
            f"files {r['files_mb']} MB, the asked phrasing's case found first for {r['found_share']:.0%}; "
            f"the build's floors {r['build_floors_s']} s"
        )
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
