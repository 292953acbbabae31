"""The trends and watch benchmarks run in the suite in smoke mode (5,000 searches), on SQLite and
(with KB_TEST_DATABASE_URL) PostgreSQL, so they cannot rot between the runs that give the figures."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def _run(script: str, store_url: str) -> str:
    result = subprocess.run([sys.executable, str(REPO / "scripts" / script), "--smoke", "--database-url", store_url],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_bench_trends_smoke(store_url):
    out = _run("bench_trends.py", store_url)
    assert "trends query window=week" in out and "/trends page window=week" in out and "p95" in out


def test_bench_watch_smoke(store_url):
    out = _run("bench_watch.py", store_url)
    assert "kb watch run" in out and "1 burst(s) alerted per run" in out and "p95" in out
