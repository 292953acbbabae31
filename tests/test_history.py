"""kb.history: diffs (pure), who sees which version, restore, and ``kb history`` / ``kb sync``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import case_text
from worlds import git, make_world

from kb import history
from kb.errors import NotFoundError
from kb.parse import parse_case
from kb.repo import Person
from kb.roles import can_read_state, effective_visibility
from kb.settings import load_settings

ALICE = Person("alice", "alice@example.com")
ID = "ESC-2026-0001"


# -- diffs ------------------------------------------------------------------------------------------


def test_japanese_is_diffed_by_characters_and_english_by_words():
    runs = history.diff_runs(
        "再起動後にタイムアウトが発生する。\n", "再起動後に接続タイムアウトが発生する。\n"
    )
    assert [(r.op, r.text) for r in runs] == [
        ("equal", "再起動後に"),
        ("insert", "接続"),
        ("equal", "タイムアウトが発生する。\n"),
    ]
    runs = history.diff_runs("Restart the indexer service.\n", "Restart the search service.\n")
    assert [(r.op, r.text) for r in runs] == [
        ("equal", "Restart the "),
        ("delete", "indexer"),
        ("insert", "search"),
        ("equal", " service.\n"),
    ]
    assert history.diff_runs("", "") == ()
    assert [(r.op, r.text) for r in history.diff_runs("a\n", "")] == [("delete", "a\n")]


def test_tokens_split_cjk_runs_into_characters_and_keep_words():
    assert history.tokens("SCH-13208 が出る") == ["SCH", "-", "13208", " ", "が", "出", "る"]


def test_case_diff_by_section_and_field():
    old = case_text(cause="Old cause.", resolution="Same resolution.")
    new = case_text(
        cause="New cause.",
        resolution="Same resolution.",
        status="workaround",
        extra="review: draft\n",
    )
    diff = history.diff_texts(old, new)
    assert {(f.name, f.old, f.new) for f in diff.fields} == {
        ("status", "resolved", "workaround"),
        ("review", "", "draft"),
    }
    changes = {s.name: s.change for s in diff.sections}
    assert changes == {"symptoms": "same", "cause": "changed", "resolution": "same"}
    cause = next(s for s in diff.sections if s.name == "cause")
    assert [(r.op, r.text) for r in cause.runs] == [
        ("delete", "Old"),
        ("insert", "New"),
        ("equal", " cause."),
    ]
    removed = history.diff_texts(old, case_text(cause="", resolution="Same resolution."))
    assert {s.name: s.change for s in removed.sections}["cause"] == "removed"
    assert not history.diff_texts(old, old).changed
    assert history.diff_texts(old, new).to_dict()["sections"][1]["runs"][0] == ["delete", "Old"]


def test_default_summary_names_what_changed():
    old = case_text(cause="Old cause.")
    assert history.default_summary(ID, old, case_text(cause="New cause.")) == f"Update {ID}: cause"
    assert history.default_summary(ID, None, old) == f"Create {ID}"
    assert history.commit_message("  fix   the\nlink ", "default") == "fix the link"
    assert history.commit_message("", "default") == "default"


def test_author_email_from_the_setting(settings):
    assert history.author_for("m.ito", settings) == Person("m.ito", "m.ito@users.noreply.kb")
    assert (
        history.author_for("m.ito", settings.replace(git_author_email="{name}@corp.example")).email
        == "m.ito@corp.example"
    )
    assert (
        "@" in history.author_for("佐藤 花子", settings).email
        and " " not in history.author_for("佐藤 花子", settings).email
    )


# -- visibility ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role,now,then,seen",
    [
        ("support", ("support", None), ("support", None), True),
        (
            "support",
            ("support", None),
            ("engineering", None),
            False,
        ),  # lowered since: its restricted past stays hidden
        (
            "support",
            ("engineering", None),
            ("support", None),
            False,
        ),  # raised since: support lost access to it all
        ("engineer", ("restricted", None), ("engineering", None), False),
        ("engineer", ("engineering", None), ("restricted", None), False),
        ("engineer", ("engineering", None), ("support", None), True),
        ("admin", ("restricted", None), ("support", None), True),
        (
            "support",
            ("support", None),
            ("support", "draft"),
            False,
        ),  # a draft version is for engineers
        ("support", ("support", "draft"), ("support", None), False),
        ("engineer", ("support", "draft"), ("support", "draft"), True),
    ],
)
def test_a_version_is_seen_only_by_roles_that_read_the_case_now_and_then(role, now, then, seen):
    assert history.version_readable(role, now, then) is seen


def test_draft_reads_at_engineering_level():
    assert effective_visibility("support", "draft") == "engineering"
    assert effective_visibility("restricted", "draft") == "restricted"
    assert effective_visibility("support", "reviewed") == "support"
    assert not can_read_state("support", "support", "draft") and can_read_state(
        "engineer", "support", "draft"
    )


def test_level_of_an_unreadable_version_is_the_narrowest():
    assert history.level_of("not a case") == ("restricted", None)
    assert history.level_of(case_text(visibility="engineering")) == ("engineering", None)


# -- versions and restore on a real repository ------------------------------------------------------------


def _world(tmp_path: Path):
    _, folder, user = make_world(tmp_path, {f"{ID}.md": case_text(cause="First cause.")})
    settings = load_settings(
        environ={}, cases_dir=folder, data_dir=tmp_path / "data", embed_model="hash:256"
    )
    repo = history.repo_for(settings)
    assert repo is not None
    return settings, repo, folder


def _commit(repo, folder: Path, text: str, who: Person = ALICE, message: str = "edit") -> str:
    (folder / f"{ID}.md").write_text(text, "utf-8")
    with repo.writing():
        sha = repo.commit_file(folder / f"{ID}.md", who, message)
    assert sha
    return sha


def _case(folder: Path):
    return parse_case((folder / f"{ID}.md").read_text("utf-8"), f"{ID}.md")


def test_raised_visibility_hides_old_versions(tmp_path):
    settings, repo, folder = _world(tmp_path)
    _commit(repo, folder, case_text(cause="Second cause."), message="second")
    _commit(
        repo,
        folder,
        case_text(cause="Engineering only now.", visibility="engineering"),
        message="raise",
    )
    path = folder / f"{ID}.md"
    engineer = history.case_history(repo, path, _case(folder), "engineer")
    assert [v.commit.summary for v in engineer.versions] == [
        "raise",
        "second",
        "seed",
    ] and engineer.hidden == 0
    # support may not read the case at all now, so no version; lowering it again reveals only the new text
    _commit(repo, folder, case_text(cause="Public again."), message="lower")
    support = history.case_history(repo, path, _case(folder), "support")
    assert [v.commit.summary for v in support.versions] == [
        "lower",
        "second",
        "seed",
    ] and support.hidden == 1
    with pytest.raises(NotFoundError):
        history.version_text(repo, path, support, engineer.versions[0].commit.sha)


def test_restore_round_trips_as_a_new_commit(tmp_path):
    settings, repo, folder = _world(tmp_path)
    first = repo.log(f"{ID}.md")[0].sha
    _commit(repo, folder, case_text(cause="A mistaken edit."), message="mistake")
    path = folder / f"{ID}.md"
    found = history.case_history(repo, path, _case(folder), "engineer")
    sha = history.restore_version(repo, path, found, first[:10], ALICE)
    assert sha is not None and path.read_text("utf-8") == case_text(cause="First cause.")
    log = repo.log(f"{ID}.md")
    assert (
        len(log) == 3
        and log[0].summary.startswith(f"Restore {ID}: version {first[:10]}")
        and log[0].author == ALICE
    )
    assert git(folder, "status", "--porcelain") == ""
    again = history.case_history(repo, path, _case(folder), "engineer")
    assert history.restore_version(repo, path, again, first, ALICE) is None  # already that version


def test_not_a_working_copy_has_no_history(settings, write_cases):
    write_cases({f"{ID}.md": case_text()})
    assert history.repo_for(settings) is None
    assert not history.case_history(
        None, settings.cases_dir / f"{ID}.md", _case(settings.cases_dir), "admin"
    ).available


def test_cli_history_diff_and_sync(tmp_path):
    from kb.cli import main

    settings, repo, folder = _world(tmp_path)
    second = _commit(
        repo, folder, case_text(cause="Second cause."), message="Update ESC-2026-0001: cause"
    )
    first = repo.log(f"{ID}.md")[1].sha
    env = {
        "KB_CASES_DIR": str(folder),
        "KB_DATA_DIR": str(tmp_path / "data"),
        "KB_EMBED_MODEL": "hash:256",
    }
    runner = CliRunner()
    listed = runner.invoke(main, ["history", ID], env=env)
    assert listed.exit_code == 0, listed.output
    assert "Update ESC-2026-0001: cause" in listed.output and "alice" in listed.output
    diff = runner.invoke(main, ["history", ID, "--diff", first[:8], second[:8]], env=env)
    assert diff.exit_code == 0, diff.output
    assert "## Cause (changed)" in diff.output and "[-First-]{+Second+}" in diff.output
    hidden = runner.invoke(main, ["history", ID, "--role", "support"], env={**env})
    assert hidden.exit_code == 0
    restricted = _commit(
        repo, folder, case_text(cause="secret", visibility="restricted"), message="restrict"
    )
    assert (
        runner.invoke(main, ["history", ID, "--role", "engineer"], env=env).exit_code != 0
    )  # no case for them
    synced = runner.invoke(main, ["sync"], env=env)
    assert synced.exit_code == 0, synced.output
    assert "1 pulled" not in synced.output and "pushed" in synced.output
    assert restricted in git(tmp_path / "remote.git", "log", "--format=%H", "main")
