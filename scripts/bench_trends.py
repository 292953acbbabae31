#!/usr/bin/env python3
"""Trends at scale: fill a store with N logged searches and their subjects, then time the trends
query and the /trends page.

The searches are spread evenly over ``--days`` days ending now (default 1,000,000 over 365 days,
~2,700 a day), each naming one of 400 error codes (Zipf-like popularity) and, one in three, one
of 200 log signatures; a burst of 40 searches for a new code in the last hour. Rows are written
directly with bulk inserts (not through the search pipeline).

    .venv/bin/python scripts/bench_trends.py                       # SQLite, 1,000,000 searches
    .venv/bin/python scripts/bench_trends.py --database-url postgresql+psycopg://kb@127.0.0.1:54329/kb_test
    .venv/bin/python scripts/bench_trends.py --sqlite-path /tmp/bench.sqlite3 --reuse   # fill once, rerun fast
    .venv/bin/python scripts/bench_trends.py --smoke               # 5,000 searches, a few repeats
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from alembic import command  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from kb import trends  # noqa: E402
from kb.activity import Feedback, SearchLog, percentile  # noqa: E402
from kb.migrate import alembic_config  # noqa: E402
from kb.settings import load_settings  # noqa: E402
from kb.store import Store  # noqa: E402
from kb.subjects import LogSignature, SearchSubject  # noqa: E402

ROLES = ("support", "support", "support", "engineer", "admin")
PRODUCTS = ("tsumugi-server", "tsumugi-cloud")
BATCH = 20_000


def fill(store: Store, n: int, days: int, now: datetime, seed: int = 7) -> None:
    """Write ``n`` first-page searches with their code/signature subjects, a few verdicts, and a burst."""
    rng = random.Random(seed)
    codes = [f"sch-{13000 + i}" for i in range(400)]
    weights = [1 / (i + 1) for i in range(len(codes))]
    signatures = [f"l{i:016x}" for i in range(200)]
    span = days * 86400
    with store.engine.begin() as conn:
        conn.execute(
            insert(LogSignature),
            [
                {
                    "signature_id": s,
                    "template": f"<ts> error [exec-<num>] step {i} failed",
                    "first_seen": now - timedelta(days=days),
                    "last_seen": now,
                }
                for i, s in enumerate(signatures)
            ],
        )
    next_id = 1
    burst = 40
    for start in range(0, n, BATCH):
        logs, subjects, verdicts = [], [], []
        for i in range(start, min(n, start + BATCH)):
            sid = next_id
            next_id += 1
            if i < burst:
                when, code = now - timedelta(seconds=rng.uniform(0, 3600)), "new-99999"
            else:
                when, code = now - timedelta(seconds=span * (i / n)), rng.choices(codes, weights)[0]
            role, product = rng.choice(ROLES), rng.choice(PRODUCTS)
            results = 0 if rng.random() < 0.1 else rng.randint(1, 40)
            top = f"ESC-2026-{rng.randint(1, 300):04d}" if results else None
            logs.append(
                {
                    "id": sid,
                    "token": f"bench{sid:019d}",
                    "created_at": when,
                    "text": "",
                    "author": "",
                    "lang": "en",
                    "kind": "code",
                    "filters": {},
                    "role": role,
                    "result_count": results,
                    "keyword_match": True,
                    "latency_ms": 10.0,
                    "generation": None,
                    "offset": 0,
                    "source": "web",
                }
            )
            row = {
                "search_id": sid,
                "created_at": when,
                "role": role,
                "lang": "en",
                "product": product,
                "component": "schedule",
                "result_count": results,
                "top_case": top,
            }
            subjects.append({**row, "subject_type": "code", "subject": code})
            if rng.random() < 1 / 3:
                subjects.append(
                    {**row, "subject_type": "signature", "subject": rng.choice(signatures)}
                )
            if rng.random() < 0.02:
                verdicts.append(
                    {
                        "search_id": sid,
                        "case_id": None,
                        "verdict": "escalated",
                        "role": role,
                        "created_at": when,
                    }
                )
        with store.engine.begin() as conn:
            conn.execute(insert(SearchLog), logs)
            conn.execute(insert(SearchSubject), subjects)
            if verdicts:
                conn.execute(insert(Feedback), verdicts)
    if (
        store.engine.dialect.name == "postgresql"
    ):  # what autovacuum does soon after a bulk load: statistics and
        with store.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        ) as conn:  # the visibility map
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def bench_store(url: str, searches: int, days: int, reuse: bool) -> tuple[Store, datetime]:
    """The store at ``url`` filled with ``searches`` searches ending now, and the fill's "now".

    With ``reuse``, a store that already holds exactly ``searches`` searches is kept as it is (its
    "now" is its newest search); otherwise the schema is dropped and filled afresh."""
    store = Store(url)
    store.create_schema()
    if reuse:
        with store.session() as session:
            held = session.scalar(select(func.count()).select_from(SearchLog))
            newest = session.scalar(select(func.max(SearchSubject.created_at)))
        if held == searches and newest is not None:
            newest = newest if newest.tzinfo else newest.replace(tzinfo=UTC)
            print(
                f"reusing the store's {held:,} searches ({store.engine.dialect.name}), the newest "
                f"{(datetime.now(UTC) - newest).total_seconds() / 60:.0f} min old"
            )
            return store, newest
    store.drop_schema()
    store.create_schema()
    command.stamp(
        alembic_config(url), "head"
    )  # made from the models, as the default store is: current
    now = datetime.now(UTC)
    started = time.perf_counter()
    fill(store, searches, days, now)
    print(
        f"filled {searches:,} searches over {days} days ({store.engine.dialect.name}) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return store, now


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """The options bench_trends and bench_watch share: size, store and reuse."""
    parser.add_argument("--searches", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--database-url",
        "--url",
        dest="url",
        default="",
        help="a store URL, e.g. postgresql+psycopg://... (default: a SQLite file, see --sqlite-path)",
    )
    parser.add_argument(
        "--sqlite-path",
        default="",
        help="the SQLite file (default: a fresh one in a temporary folder)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the store afterwards, and reuse it when it already holds --searches searches",
    )


def store_url(args: argparse.Namespace, tmp: str) -> str:
    if args.url:
        return str(args.url)
    return f"sqlite:///{Path(args.sqlite_path).resolve() if args.sqlite_path else Path(tmp) / 'kb.sqlite3'}"


def timed(call, repeats: int, cpu: list[float] | None = None) -> list[float]:  # type: ignore[no-untyped-def]
    """Wall-clock milliseconds of ``repeats`` calls, sorted; this process's CPU milliseconds appended
    to ``cpu`` (on SQLite all of a query's work, so a figure the machine's other load hardly moves)."""
    times = []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        times.append((time.perf_counter() - started) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - started_cpu) * 1000)
    if cpu is not None:
        cpu.sort()
    return sorted(times)


def figures(times: list[float], cpu: list[float]) -> str:
    return (
        f"p50 {percentile(times, 50):.1f} ms, p95 {percentile(times, 95):.1f} ms "
        f"(cpu here p50 {percentile(cpu, 50):.1f} ms, p95 {percentile(cpu, 95):.1f} ms)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_store_arguments(parser)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--smoke", action="store_true", help="5,000 searches and 3 repeats (what the tests run)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.searches, args.repeats = 5_000, 3
    with tempfile.TemporaryDirectory() as tmp:
        url = store_url(args, tmp)
        store, now = bench_store(url, args.searches, args.days, args.reuse)
        for window in trends.WINDOWS:
            cpu: list[float] = []
            times = timed(
                lambda window=window: trends.trends(store, window, now=now), args.repeats, cpu
            )
            report = trends.trends(store, window, now=now)
            print(
                f"trends query window={window}: {figures(times, cpu)} "
                f"({len(report.trends)} trends, first {report.trends[0].subject if report.trends else '-'})"
            )
        cpu = []
        filtered = timed(
            lambda: trends.trends(
                store, "week", trends.TrendFilters(product="tsumugi-cloud", role="support"), now=now
            ),
            args.repeats,
            cpu,
        )
        print(f"trends query window=week product+role: {figures(filtered, cpu)}")
        store.close()
        from webui import create_app

        (Path(tmp) / "cases").mkdir()
        settings = load_settings(
            environ={},
            cases_dir=Path(tmp) / "cases",
            data_dir=Path(tmp) / "data",
            embed_model="hash:256",
            database_url=url,
        )
        app = create_app(settings, test_config={"KB_ROLE": "engineer"})
        client = app.test_client()
        for window in trends.WINDOWS:
            status = client.get(f"/trends?window={window}").status_code
            assert status == 200, status
            cpu = []
            times = timed(
                lambda window=window: client.get(f"/trends?window={window}"), args.repeats, cpu
            )
            print(f"/trends page window={window}: {figures(times, cpu)}")
        app.extensions["kb"].close()
        if not args.reuse:
            cleanup = Store(url)
            cleanup.drop_schema()
            cleanup.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
