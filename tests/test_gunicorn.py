"""Several gunicorn workers serve the published generation read-only and follow a new one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import REPO, case_text

from indexer.jobs import run_index


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token: str = "") -> dict:
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}"} if token else {}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback test server)
        return json.loads(response.read())


def test_workers_serve_and_pick_up_a_new_generation(settings, write_cases):
    folder = write_cases({"ESC-2026-0001.md": case_text(title="Mail delayed for hours")})
    first = run_index(settings).generation
    from kb.accounts import add_user, create_token
    from kb.migrate import open_store

    store = open_store(settings)
    add_user(store, "monitor", "support", None)
    token = create_token(store, "monitor", "test")
    store.close()
    port = _free_port()
    env = dict(
        os.environ,
        KB_CASES_DIR=str(settings.cases_dir),
        KB_DATA_DIR=str(settings.data_dir),
        KB_EMBED_MODEL=settings.embed_model,
        KB_SECRET_KEY="test-secret",
        KB_LOG_LEVEL="WARNING",
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen(
        [
            str(gunicorn),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--limit-request-line",
            "8190",
            "-c",
            "python:webui.gunicorn_conf",
            "webui:create_app()",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = _get(f"{base}/api/v1/health")
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "gunicorn did not start"
                time.sleep(0.2)
        assert health["generation"] == first
        try:
            _get(f"{base}/api/v1/search?q=mail+delayed")
            raise AssertionError("an anonymous API call must be refused")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
            exc.close()
        found = [
            _get(f"{base}/api/v1/search?q=mail+delayed", token)["hits"][0]["id"] for _ in range(6)
        ]
        assert set(found) == {"ESC-2026-0001"}

        (folder / "ESC-2026-0002.md").write_text(
            case_text("ESC-2026-0002", title="Approval stuck in workflow"), "utf-8"
        )
        second = run_index(settings).generation
        answers = [
            _get(f"{base}/api/v1/search?q=approval+stuck", token) for _ in range(6)
        ]  # both workers, round robin
        assert {a["generation"] for a in answers} == {second}
        assert {a["hits"][0]["id"] for a in answers} == {"ESC-2026-0002"}
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
