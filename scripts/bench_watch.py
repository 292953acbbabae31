#!/usr/bin/env python3
"""kb watch at scale: time watch runs over a store of N logged searches (the trends benchmark's store).

The store is bench_trends.py's (default 1,000,000 searches over 365 days, a burst of 40 searches
for a new code in the last hour), built afresh or reused. Each timed run is a whole
:func:`kb.watch.run_watch` at the store's "now" — count the window, fetch the baselines, apply the
rule, open the alert (its payload: top cases, verdicts, visible case) and deliver it to the log
channel; the alert-state table is emptied between runs (untimed) so every run opens the alert
anew, the most a run does.

    .venv/bin/python scripts/bench_watch.py                          # SQLite, 1,000,000 searches
    .venv/bin/python scripts/bench_watch.py --database-url postgresql+psycopg://kb@127.0.0.1:54329/kb_test
    .venv/bin/python scripts/bench_watch.py --sqlite-path /tmp/bench.sqlite3 --reuse   # the store bench_trends kept
    .venv/bin/python scripts/bench_watch.py --smoke                  # 5,000 searches, 3 runs (what the tests run)
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_trends import add_store_arguments, bench_store, store_url  # noqa: E402
from sqlalchemy import delete  # noqa: E402

from kb.activity import percentile  # noqa: E402
from kb.alert_state import WatchAlert  # noqa: E402
from kb.settings import load_settings  # noqa: E402
from kb.store import Store  # noqa: E402
from kb.watch import run_watch  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_store_arguments(parser)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--smoke", action="store_true", help="5,000 searches and 3 runs (what the tests run)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.searches, args.runs = 5_000, 3
    logging.getLogger().addHandler(
        logging.NullHandler()
    )  # the log channel's alert line, once per run: not printed
    with tempfile.TemporaryDirectory() as tmp:
        url = store_url(args, tmp)
        store, now = bench_store(url, args.searches, args.days, args.reuse)
        settings = load_settings(
            environ={},
            cases_dir=Path(tmp) / "cases",
            data_dir=Path(tmp) / "data",
            embed_model="hash:256",
            database_url=url,
        )
        times, bursts = [], 0
        for _ in range(args.runs):
            with store.session() as session:
                session.execute(delete(WatchAlert))
            started = time.perf_counter()
            report = run_watch(settings, store, now=now)
            times.append((time.perf_counter() - started) * 1000)
            bursts = len(report.bursts)
            assert report.alerted and not report.undelivered, report.as_dict()
        with store.session() as session:
            session.execute(delete(WatchAlert))
        times.sort()
        print(
            f"kb watch run ({store.engine.dialect.name}, {args.searches:,} searches, "
            f"{bursts} burst(s) alerted per run): "
            f"p50 {percentile(times, 50):.1f} ms, p95 {percentile(times, 95):.1f} ms, max {times[-1]:.1f} ms "
            f"over {args.runs} runs"
        )
        store.close()
        if not args.reuse:
            cleanup = Store(url)
            cleanup.drop_schema()
            cleanup.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
