"""Recall and speed of the approximate vector index (faiss HNSW) against exact search.

Usage:
  python scripts/bench_ann.py --data /tmp/bench10k/data            # a kept bench_search.py corpus
  python scripts/bench_ann.py --data /tmp/bench100k/data --ef 64 128 256
  python scripts/bench_ann.py --smoke        # 30 synthetic cases indexed with the hashing encoder: seconds

Reads every chunk vector of the live generation, builds the HNSW index the product builds
(``VectorIndex``: M=32, efConstruction=80 unless ``--ef-construction``) and an exact one, and
encodes queries (the evaluation set plus symptoms, error codes and log lines of random cases)
with the generation's own model.
For each efSearch it reports, unfiltered and with the support role's filter (the row bitmap the
searcher passes to faiss):

* chunk recall@k: the share of the exact top-k chunks (k = the dense leg's 400 candidates, and 10)
  that HNSW also returns;
* case recall@10: the share of the exact dense leg's top-10 cases (chunks grouped by case) found;
* latency p50 / p95 per query (one at a time).
Figures go in the README ("Speed").
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_search import bench_queries, percentile  # noqa: E402

from indexer import generation as gen  # noqa: E402
from indexer.dense import VectorIndex, encoder_for  # noqa: E402
from indexer.filters import Filters  # noqa: E402
from indexer.fusion import group_best  # noqa: E402
from indexer.searcher import OpenGeneration  # noqa: E402
from kb.settings import ANN_STORAGES, load_settings  # noqa: E402

LEG_CANDIDATES = 400  # settings.candidates (100) * 4 chunks, as the searcher asks


def all_vectors(index: VectorIndex) -> np.ndarray:
    return index._index.reconstruct_n(0, index.size)  # type: ignore[attr-defined]


def top_cases(found: list[tuple[int, float]], chunk_case: list[str], n: int = 10) -> list[str]:
    return [cid for cid, _ in group_best([(chunk_case[row], -score) for row, score in found])][:n]


def measure(
    approx: VectorIndex,
    exact: VectorIndex,
    queries: np.ndarray,
    mask: np.ndarray | None,
    chunk_case: list[str],
    ef: int | None = None,
) -> dict[str, float]:
    recall_leg, recall_10, recall_cases, latencies = [], [], [], []
    for vector in queries:
        want = exact.search(vector[None, :], LEG_CANDIDATES, mask)[0]
        started = time.perf_counter()
        got = approx.search(vector[None, :], LEG_CANDIDATES, mask, ef)[0]
        latencies.append((time.perf_counter() - started) * 1000)
        got_rows = {row for row, _ in got}
        recall_leg.append(len(got_rows & {row for row, _ in want}) / max(1, len(want)))
        recall_10.append(len(got_rows & {row for row, _ in want[:10]}) / max(1, len(want[:10])))
        exact_cases = top_cases(want, chunk_case)
        recall_cases.append(
            len(set(top_cases(got, chunk_case)) & set(exact_cases)) / max(1, len(exact_cases))
        )
    return {
        "chunk_recall@400": round(statistics.mean(recall_leg), 4),
        "chunk_recall@10": round(statistics.mean(recall_10), 4),
        "case_recall@10": round(statistics.mean(recall_cases), 4),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(percentile(latencies, 0.95), 2),
    }


def smoke_data() -> Path:
    """A data folder with one generation of 30 synthetic cases (hashing encoder), for --smoke."""
    import tempfile

    import synth_cases

    from indexer.jobs import run_index

    root = Path(tempfile.mkdtemp(prefix="kb-ann-smoke-"))
    synth_cases.generate(root / "cases", 30)
    run_index(
        load_settings(
            environ={}, cases_dir=root / "cases", data_dir=root / "data", embed_model="hash:384"
        )
    )
    return root / "data"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, help="a data folder holding index/CURRENT")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="index 30 synthetic cases (hashing encoder) and measure 10 queries at one efSearch",
    )
    parser.add_argument("--cases", type=Path, help="its cases folder (default: <data>/../cases)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--ef",
        type=int,
        nargs="+",
        default=[400, 512, 768, 1024],
        help="efSearch values (the product never searches below the 400 candidates it asks for)",
    )
    parser.add_argument("--ef-construction", type=int, default=VectorIndex.HNSW_EF_CONSTRUCTION)
    parser.add_argument(
        "--storage",
        choices=ANN_STORAGES,
        default="sq8",
        help="how HNSW holds the vectors (KB_ANN_STORAGE; default sq8, as the product)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.data, args.queries, args.ef = smoke_data(), 10, [400]
    elif args.data is None:
        parser.error("--data is required (or --smoke)")
    cases_dir = args.cases or args.data.parent / "cases"
    folder = gen.current_dir(args.data / "index")
    g = OpenGeneration(folder)
    settings = load_settings(cases_dir=cases_dir, data_dir=args.data)
    vectors = all_vectors(g.vectors)
    VectorIndex.HNSW_EF_CONSTRUCTION = args.ef_construction
    started = time.perf_counter()
    approx = VectorIndex.build(vectors, ann_threshold=1, storage=args.storage)
    build_s = time.perf_counter() - started
    exact = VectorIndex.build(vectors, ann_threshold=len(vectors) + 1)
    texts = [text for _, text in bench_queries(cases_dir, args.queries, random.Random(7))]
    queries = encoder_for(settings, g.manifest.model).encode_queries([t[:2000] for t in texts])
    support = g.row_mask(Filters().for_role("support"))
    result = {
        "generation": str(folder),
        "model": g.manifest.model,
        "chunks": len(vectors),
        "queries": len(texts),
        "ef_construction": args.ef_construction,
        "storage": args.storage,
        "hnsw_build_seconds": round(build_s, 1),
        "support_rows": int(support.sum()) if support is not None else len(vectors),
        "exact_ms": measure(exact, exact, queries[:50], None, g.chunk_case)["p50_ms"],
        "ef": {},
    }
    for ef in args.ef:
        result["ef"][ef] = {
            "all": measure(approx, exact, queries, None, g.chunk_case, ef),
            "support": measure(approx, exact, queries, support, g.chunk_case, ef),
        }
        print(ef, json.dumps(result["ef"][ef]), flush=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
