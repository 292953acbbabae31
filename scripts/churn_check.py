"""Searches while the index is rebuilt in a loop: reader processes search with several threads
each while this process publishes a new generation every round and prunes old ones. Every search
must answer without an error and with the right case first.

Usage:
  python scripts/churn_check.py [--seconds 60] [--processes 2] [--threads 8] [--grace 5]
                                [--keep 3] [--engine whoosh] [--smoke]

``--grace`` is the pruning grace period (``KB_GENERATION_GRACE_SECONDS``); the default keeps it
short so that generations are really deleted during the run. ``--grace 0`` shows what happens
without one. Prints one JSON object: searches, errors (with the first few messages), wrong
results, publishes and pruned generations.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

CASES = 40


def case_file(i: int, revision: int = 0) -> str:
    from conftest import case_text

    return case_text(
        f"ESC-2026-{i:04d}",
        title=f"Case {i} revision {revision}",
        symptoms=f"The widget reports churnword{i} and ERR-{1000 + i:05d} after the upgrade.",
    )


def make_settings(root: Path, engine: str, keep: int, grace: float):  # type: ignore[no-untyped-def]
    from kb.settings import load_settings

    return load_settings(
        environ={},
        cases_dir=root / "cases",
        data_dir=root / "data",
        embed_model="hash:256",
        lexical_engine=engine,
        keep_generations=keep,
        generation_grace_seconds=int(grace),
    )


def reader(root: str, engine: str, threads: int, stop_at: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """One reader process: ``threads`` threads searching until ``stop_at``."""
    from indexer.searcher import Searcher, SearchRequest
    from kb.migrate import open_store

    settings = make_settings(Path(root), engine, 3, 0)
    store = open_store(settings)
    searcher = Searcher(settings, store)
    counts = {"searches": 0, "errors": 0, "wrong": 0, "messages": []}
    lock = threading.Lock()

    def loop(seed: int) -> None:
        rng = random.Random(seed)
        while time.time() < stop_at:
            i = rng.randint(2, CASES)  # case 1 is the one being rewritten
            try:
                hits = searcher.search(SearchRequest(f"churnword{i}", role="admin")).hits
                wrong = not hits or hits[0].id != f"ESC-2026-{i:04d}"
                error = None
            except Exception as exc:  # noqa: BLE001 - every failure is what this script counts
                wrong, error = False, f"{type(exc).__name__}: {exc}"
            with lock:
                counts["searches"] += 1
                counts["wrong"] += int(wrong)
                if error:
                    counts["errors"] += 1
                    if len(counts["messages"]) < 5:
                        counts["messages"].append(error)

    workers = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    store.close()
    out.put(counts)


def churn(args: argparse.Namespace, root: Path) -> dict:
    from indexer.jobs import run_index

    cases = root / "cases"
    cases.mkdir(parents=True)
    for i in range(1, CASES + 1):
        (cases / f"ESC-2026-{i:04d}.md").write_text(case_file(i), "utf-8")
    settings = make_settings(root, args.engine, args.keep, args.grace)
    run_index(settings)
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    stop_at = time.time() + args.seconds
    procs = [
        ctx.Process(target=reader, args=(str(root), args.engine, args.threads, stop_at, out))
        for _ in range(args.processes)
    ]
    for p in procs:
        p.start()
    publishes, pruned, revision = 0, 0, 0
    while time.time() < stop_at:
        revision += 1
        (cases / "ESC-2026-0001.md").write_text(case_file(1, revision), "utf-8")
        report = run_index(
            settings, full=revision % 3 == 0
        )  # incremental and full builds alternate
        publishes += int(report.published)
        pruned += len(report.build.get("pruned", [])) if report.build else 0
        time.sleep(args.pause)
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    return {
        "seconds": args.seconds,
        "processes": args.processes,
        "threads": args.threads,
        "engine": args.engine,
        "grace_seconds": args.grace,
        "keep": args.keep,
        "publishes": publishes,
        "pruned": pruned,
        "searches": sum(r["searches"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "wrong_results": sum(r["wrong"] for r in results),
        "error_messages": [m for r in results for m in r["messages"]][:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--grace", type=float, default=5)
    parser.add_argument("--keep", type=int, default=3)
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between two publishes")
    parser.add_argument("--engine", default="whoosh")
    parser.add_argument(
        "--smoke", action="store_true", help="a few seconds with 2 processes x 2 threads"
    )
    args = parser.parse_args()
    if args.smoke:
        # a 3 s grace: generations are still pruned within the run, and a search slowed down by a
        # busy machine (the suite on 2 cores) still finishes on the generation it opened (1 s did not)
        args.seconds, args.processes, args.threads, args.grace, args.keep, args.pause = (
            8,
            2,
            2,
            3,
            1,
            0.1,
        )
    with tempfile.TemporaryDirectory(prefix="kb-churn-") as tmp:
        result = churn(args, Path(tmp))
    print(json.dumps(result, indent=2))
    sys.exit(1 if result["errors"] or result["wrong_results"] else 0)


if __name__ == "__main__":
    main()
