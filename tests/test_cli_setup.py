"""Set-up: the package declares its data folders (no setuptools warnings), scripts/setup.sh is quiet."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO


def test_the_wheel_builds_without_warnings_and_carries_the_data_files(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for package in ("kb", "indexer", "webui"):
        shutil.copytree(
            REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    output = run.stdout + run.stderr
    assert "absent from the `packages` configuration" not in output and "Warning" not in output, (
        output
    )
    wheel = next((tmp_path / "dist").glob("escalation_kb-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "kb/migrations/env.py",
        "kb/migrations/script.py.mako",
        "kb/templates/case-ja.md",
        "webui/static/app.js",
        "webui/templates/search.html",
    } | {f"kb/migrations/versions/{p.name}" for p in (REPO / "kb/migrations/versions").glob("*.py")}
    assert expected <= names, expected - names


FAKE_PYTHON = """#!/bin/sh
# stands in for .venv/bin/python: chatty like pip and setuptools, failing when told to
[ "$1" = "-c" ] && exit 0
i=0; while [ $i -lt 240 ]; do echo "BuildBackendWarning: noise line $i" >&2; i=$((i+1)); done
case "$*" in *"-e"*) [ -n "$FAIL_INSTALL" ] && { echo "ERROR: could not install" >&2; exit 1; } ;; esac
exit 0
"""


def _checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup.sh", root / "scripts" / "setup.sh")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    python = root / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return root


def test_setup_prints_two_lines_and_keeps_the_installers_output_in_a_log(tmp_path):
    root = _checkout(tmp_path)
    run = subprocess.run(
        ["bash", "scripts/setup.sh"], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert (run.stdout + run.stderr).splitlines() == [
        "setup: installing dependencies into .venv (first run takes a few minutes)",
        "setup: done",
    ]
    assert "noise line 239" in (root / ".venv" / "setup.log").read_text()
    again = subprocess.run(
        ["bash", "scripts/setup.sh"], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0 and again.stdout + again.stderr == ""  # set up already: silent


def test_setup_shows_the_installers_output_when_it_fails(tmp_path):
    root = _checkout(tmp_path)
    run = subprocess.run(
        ["bash", "scripts/setup.sh"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "FAIL_INSTALL": "1"},
    )
    assert run.returncode == 1
    assert "ERROR: could not install" in run.stderr and "setup: failed:" in run.stderr
    assert len(run.stderr.splitlines()) <= 42  # the log's tail, not all of it
