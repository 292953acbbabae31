"""Loading case files into the store: files per second of a first sync (read, hash, parse, write).

Usage:
  python scripts/bench_load.py --cases 100000 [--keep DIR] [--database-url URL]
  python scripts/bench_load.py --smoke          # a few cases, seconds (what the tests run)

Generates ``--cases`` synthetic case files (``scripts/synth_cases.py``; reused from ``--keep``),
then times ``kb.sync.sync_store`` into a fresh store (wall and this process's CPU seconds:
on a shared machine the CPU time per file is the figure that does not move with the load)
(SQLite under a temporary folder, or the given URL of an empty PostgreSQL database or schema),
then a second, no-change sync. Prints one JSON object. A benchmark, never a timed unit test;
figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import kb.sync  # noqa: E402
from kb.migrate import open_store  # noqa: E402
from kb.settings import load_settings  # noqa: E402
from kb.sync import sync_store  # noqa: E402


def main() -> None:
    import synth_cases

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument(
        "--keep", type=Path, help="keep the generated cases here (reused when present)"
    )
    parser.add_argument(
        "--database-url", default="", help="the URL of an empty PostgreSQL database; default SQLite"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="20 cases: only that it runs and prints its figures"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="no worker processes: the CPU seconds per file, whatever else the machine runs",
    )
    args = parser.parse_args()
    if args.smoke:
        args.cases = 20
    root = Path(tempfile.mkdtemp(prefix="kb-load-"))
    cases_dir = args.keep or root / "cases"
    if len(list(cases_dir.glob("*.md"))) != args.cases:
        synth_cases.generate(cases_dir, args.cases)
    settings = load_settings(
        environ={}, cases_dir=cases_dir, data_dir=root / "data", database_url=args.database_url
    )
    store = open_store(settings)
    if args.in_process:
        kb.sync.PARALLEL_FILES = 1 << 62
    started, cpu = time.perf_counter(), time.process_time()
    report = sync_store(settings, store)
    first, cpu = time.perf_counter() - started, time.process_time() - cpu
    started = time.perf_counter()
    again = sync_store(settings, store)
    second = time.perf_counter() - started
    store.close()
    print(
        json.dumps(
            {
                "cases": args.cases,
                "backend": store.engine.dialect.name,
                "added": len(report.added),
                "failed": len(report.failed),
                "load_seconds": round(first, 2),
                "files_per_second": round(args.cases / first, 1),
                "workers": "none"
                if args.in_process or args.cases < kb.sync.PARALLEL_FILES
                else "one per core",
                "cpu_seconds_this_process": round(cpu, 2),
                "cpu_ms_per_file_this_process": round(cpu * 1000 / args.cases, 2),
                "no_change_seconds": round(second, 2),
                "unchanged": again.unchanged,
            }
        )
    )


if __name__ == "__main__":
    main()
