"""The docs match the code: the generated references are current, every command and setting is
documented, the README stays a front page, and the manual builds with ``mkdocs build --strict``."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys

import click
import pytest
from conftest import REPO

from kb.cli import main
from kb.settings import SETTINGS

README_MAX_LINES = 150
QUICK_START = ("scripts/run-sample.sh", "scripts/test.sh")


def _gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", REPO / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_docs = _gen_docs()


def _all_commands() -> list[tuple[str, click.Command]]:
    return [(full, command) for full, command, _ctx in gen_docs.iter_commands(main)]


def test_the_walk_reaches_every_subcommand():
    names = {full for full, _command in _all_commands()}
    assert {
        "kb db upgrade",
        "kb db check",
        "kb user add",
        "kb user passwd",
        "kb token create",
        "kb token revoke",
    } <= names
    groups = [command for _full, command in _all_commands() if isinstance(command, click.Group)]
    assert {group.name for group in groups} >= {"db", "user", "token"}
    for group in groups:  # every subcommand of every group is walked, none skipped
        for name in group.commands:
            assert any(full.endswith(f" {group.name} {name}") for full in names), (group.name, name)


@pytest.mark.parametrize("rel", sorted(gen_docs.GENERATED))
def test_generated_pages_are_up_to_date(rel):
    expected = gen_docs.expected_pages()[rel]
    assert (REPO / rel).read_text("utf-8") == expected, (
        f"{rel} is stale: run python scripts/gen_docs.py"
    )


def test_check_mode_names_a_stale_page(tmp_path):
    for rel in gen_docs.GENERATED:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, tmp_path / rel)
    assert gen_docs.stale_pages(tmp_path) == []
    page = tmp_path / "docs" / "cli.md"
    page.write_text(page.read_text("utf-8").replace("kb db upgrade", "kb db upgrayed", 1), "utf-8")
    assert gen_docs.stale_pages(tmp_path) == ["docs/cli.md"]


def test_check_mode_exits_non_zero_and_names_the_file(tmp_path):
    ok = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_docs.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    # a copy of the script and the docs, with one page made stale, beside the real code
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "gen_docs.py", tmp_path / "scripts" / "gen_docs.py")
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    page = tmp_path / "docs" / "configuration.md"
    page.write_text(
        page.read_text("utf-8").replace("`KB_CASES_DIR`", "`KB_CASES_FOLDER`", 1), "utf-8"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    stale = subprocess.run(
        [sys.executable, str(tmp_path / "scripts" / "gen_docs.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert stale.returncode == 1
    assert "docs/configuration.md" in stale.stderr and "docs/cli.md" not in stale.stderr
    assert "KB_CASES_FOLDER" in page.read_text("utf-8")  # --check writes nothing


def test_splice_keeps_the_hand_written_prose_and_needs_its_markers():
    page = "intro\n<!-- BEGIN GENERATED: x -->\nold\n<!-- END GENERATED: x -->\noutro\n"
    spliced = gen_docs.splice(page, "x", "new\n")
    assert spliced.startswith("intro\n") and spliced.endswith("outro\n")
    assert "new\n" in spliced and "old" not in spliced
    assert gen_docs.splice(spliced, "x", "new\n") == spliced
    with pytest.raises(gen_docs.StaleMarkersError):
        gen_docs.splice("no markers here", "x", "new\n")


def test_every_command_and_subcommand_has_help_and_is_in_the_cli_reference():
    reference = (REPO / "docs" / "cli.md").read_text("utf-8")
    commands = _all_commands()
    assert len(commands) >= 25
    for full, command in commands:
        assert command.help and command.help.strip(), f"{full} has no help text"
        assert f"## `{full}`" in reference, f"{full} has no section in docs/cli.md"
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                for flag in param.opts:
                    assert flag in reference, f"{full} {flag} is not in docs/cli.md"


def test_every_setting_is_in_the_configuration_reference():
    reference = (REPO / "docs" / "configuration.md").read_text("utf-8")
    missing = [f.name for f in SETTINGS if f"| `KB_{f.name.upper()}` |" not in reference]
    assert missing == []
    assert all(f.metadata.get("help") for f in SETTINGS)


def test_readme_is_a_front_page_with_the_two_commands():
    readme = (REPO / "README.md").read_text("utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    for command in QUICK_START:
        assert re.search(rf"^{re.escape(command)}\s+#", readme, re.M), (
            f"{command} is not a Quick start command"
        )
        assert (REPO / command).exists()
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()
    image = REPO / "docs" / "img" / "search.png"
    assert "docs/img/search.png" in readme and image.exists() and image.stat().st_size < 200_000


def test_readme_links_into_the_manual_resolve():
    readme = (REPO / "README.md").read_text("utf-8")
    targets = re.findall(r"\]\((docs/[^)#\s]+)", readme)
    assert len(set(targets)) >= 10
    for target in targets:
        assert (REPO / target).exists(), target


def test_the_manual_builds_strictly_and_offline(tmp_path):
    site = tmp_path / "site"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(REPO / "mkdocs.yml"),
            "-d",
            str(site),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "WARNING" not in run.stderr, run.stderr
    pages = {p.parent.name for p in site.glob("*/index.html")}
    assert {"cli", "configuration", "architecture", "performance", "changelog"} <= pages
    html = (site / "index.html").read_text("utf-8")
    assert "cdnjs" not in html and "googleapis" not in html  # nothing fetched from a CDN when read
