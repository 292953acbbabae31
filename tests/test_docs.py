"""The docs match the code: every command has help text and is in the README."""

from kb.cli import main

from conftest import REPO


def test_every_command_has_help_and_is_documented():
    readme = (REPO / "README.md").read_text("utf-8")
    for name, command in main.commands.items():
        assert command.help and command.help.strip(), name
        assert f"kb {name}" in readme, f"kb {name} is not in the README"


def test_readme_quick_start_commands_exist_and_ci_runs_the_test_command():
    readme = (REPO / "README.md").read_text("utf-8")
    assert "scripts/run-sample.sh" in readme and "scripts/test.sh" in readme
    assert (REPO / "scripts" / "run-sample.sh").exists()
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()
