#!/usr/bin/env python3
"""Server-side latency of the web search: index the sample corpus, then time ~200 requests.

Uses Flask's test client (no network), so the numbers are what the server spends per request:
parameter parsing, access control, search, facet counts, the search log write and HTML rendering.
It signs in like a real client: an account made for the run logs in through the login form (the
CSRF token read from the form, the session cookie kept), and ``--api`` sends an API token made for
the run as ``Authorization: Bearer``.

    .venv/bin/python scripts/bench_web.py --api           # the default embedding model
    .venv/bin/python scripts/bench_web.py --model hash:256  # the fast fake encoder
    .venv/bin/python scripts/bench_web.py --smoke           # a few requests, the fake encoder: seconds
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import statistics
import sys
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from indexer.jobs import run_index  # noqa: E402
from kb.activity import percentile  # noqa: E402
from kb.settings import DEFAULT_MODEL, load_settings  # noqa: E402
from webui import create_app  # noqa: E402

# Each pass sends every query once more with different filters (a new search for the engines,
# the same text for the query-vector cache).
PASSES: tuple[dict[str, str], ...] = ({}, {"status": "resolved"}, {"product": "tsumugi-server"})


def summary(label: str, values: list[float]) -> str:
    ordered = sorted(values)
    return (
        f"{label:<34} n={len(values):<4} p50={percentile(ordered, 50):7.1f} ms  p95={percentile(ordered, 95):7.1f} ms  "
        f"max={ordered[-1]:7.1f} ms  mean={statistics.fmean(values):6.1f} ms"
    )


def signed_in_client(app, name: str):  # type: ignore[no-untyped-def]
    """A test client that logged in through the form as a real browser does: an account made for
    the run, the CSRF token from the login page, the session cookie kept by the client."""
    from kb import accounts

    password = secrets.token_urlsafe(18)
    accounts.add_user(app.extensions["kb"].store, name, "support", password)
    client = app.test_client()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    data = {"name": name, "password": password, "next": "/"} | (
        {"csrf_token": token.group(1)} if token else {}
    )
    response = client.post("/login", data=data)
    if response.status_code != 303:
        raise SystemExit(f"login failed: {response.status_code}")
    return client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="embedding model (default: the default setting)"
    )
    parser.add_argument("--requests", type=int, default=200, help="how many timed /search requests")
    parser.add_argument(
        "--queries", type=Path, default=REPO / "tests" / "data" / "eval" / "queries.jsonl"
    )
    parser.add_argument("--api", action="store_true", help="also time /api/v1/search")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="12 requests with the fake encoder, API included: only that it runs",
    )
    args = parser.parse_args()
    if args.smoke:
        args.model, args.requests, args.api = "hash:256", 12, True

    queries = [
        json.loads(line)["query"]
        for line in args.queries.read_text("utf-8").splitlines()
        if line.strip()
    ]
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            environ={},
            cases_dir=REPO / "cases",
            data_dir=Path(tmp) / "data",
            embed_model=args.model,
        )
        started = time.perf_counter()
        report = run_index(settings)
        print(
            f"index: {report.summary()} ({time.perf_counter() - started:.1f}s, model {args.model})"
        )
        app = create_app(settings)
        client = signed_in_client(app, "bench-web")
        client.get("/search", query_string={"q": "warm-up"})  # loads the generation and the encoder

        plan = list(
            islice(((q, flt, n) for n, flt in enumerate(PASSES) for q in queries), args.requests)
        )
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
            from kb import accounts

            token = accounts.create_token(app.extensions["kb"].store, "bench-web", "bench_web.py")
            api_client = app.test_client()
            headers = {"Authorization": f"Bearer {token}"}
            api = []
            for text in queries[: args.requests] if args.smoke else queries:
                t0 = time.perf_counter()
                response = api_client.get(
                    "/api/v1/search",
                    query_string={"q": text, "status": "workaround"},
                    headers=headers,
                )
                api.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    print(
                        f"error {response.status_code} from the API for {text[:40]!r}",
                        file=sys.stderr,
                    )
                    return 1
            print(summary("GET /api/v1/search", api))
            html_p95, api_p95 = percentile(sorted(everything), 95), percentile(sorted(api), 95)
            print(
                f"HTML /search vs API p95: {html_p95 / api_p95:.2f}x (p50 "
                f"{percentile(sorted(everything), 50) / percentile(sorted(api), 50):.2f}x)"
            )

        from sqlalchemy import select

        from kb.activity import SearchLog

        with app.extensions["kb"].store.session() as session:
            logged = sorted(
                session.scalars(select(SearchLog.latency_ms).where(SearchLog.source == "web")).all()
            )
        print(summary("logged search+facets (web)", logged[1:] if len(logged) > 1 else logged))
        app.extensions["kb"].close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
