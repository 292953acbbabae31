"""The history pages and API on a real cases repository: versions, diffs, restore, visibility,
and the "edit waiting for merge" state after a conflicting upstream commit."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from conftest import case_text
from worlds import git, make_world

from indexer.jobs import run_index
from kb.history import repo_for
from kb.repo import Person, sync
from kb.settings import load_settings
from webui import create_app

PUBLIC, RAISED, SECRET = "ESC-2026-0001", "ESC-2026-0002", "ESC-2026-0003"
ALICE = Person("alice", "alice@example.com")


@pytest.fixture
def world(tmp_path: Path):
    files = {
        f"{PUBLIC}.md": case_text(PUBLIC, cause="タイムアウトは 30 秒でした。"),
        f"{RAISED}.md": case_text(RAISED, title="Public at first", cause="OLD-PUBLIC-TEXT"),
        f"{SECRET}.md": case_text(
            SECRET, title="Restricted", visibility="restricted", cause="VELVET-OWL"
        ),
    }
    remote, folder, user = make_world(tmp_path, files)
    settings = load_settings(
        environ={}, cases_dir=folder, data_dir=tmp_path / "data", embed_model="hash:256"
    )
    repo = repo_for(settings)
    assert repo is not None
    for case_id, text in (
        (PUBLIC, case_text(PUBLIC, cause="タイムアウトは 60 秒でした。")),
        (
            RAISED,
            case_text(
                RAISED, title="Engineers only now", visibility="engineering", cause="NEW-TEXT"
            ),
        ),
    ):
        (folder / f"{case_id}.md").write_text(text, "utf-8")
        with repo.writing():
            repo.commit_file(folder / f"{case_id}.md", ALICE, f"Update {case_id}: cause")
    assert run_index(settings).published
    app = create_app(settings, test_config={"KB_ROLE": "engineer", "KB_EDITOR_INDEX_WAIT": 0})
    yield app, settings, repo, folder, user
    app.extensions["kb"].close()


def client_of(app, role: str):
    app.config["KB_ROLE"] = role
    client = app.test_client()
    client.set_cookie("lang", "en")
    return client


def text_of(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def test_history_lists_versions_and_renders_a_character_diff(world):
    app = world[0]
    page = client_of(app, "support").get(f"/cases/{PUBLIC}/history")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Update ESC-2026-0001: cause" in body and "alice" in body and "seed" in body
    assert (
        "<span>タイムアウトは </span><del>30</del><ins>60</ins><span> 秒でした。</span>" in body
    )  # the changed run, not the line
    assert "Restore this version" not in body  # support cannot edit
    case_page = client_of(app, "support").get(f"/cases/{PUBLIC}").get_data(as_text=True)
    assert f"/cases/{PUBLIC}/history" in case_page


def test_a_case_with_one_version_says_so_instead_of_comparing_it_with_itself(world):
    page = client_of(world[0], "admin").get(f"/cases/{SECRET}/history")
    body, text = page.get_data(as_text=True), text_of(page)
    assert page.status_code == 200 and "Versions (1)" in text
    assert 'id="single-version"' in body and "This case has one version so far" in text
    assert "Compare the two chosen versions" not in text and "No differences" not in text
    several = text_of(client_of(world[0], "support").get(f"/cases/{PUBLIC}/history"))
    assert "Compare the two chosen versions" in several and "one version so far" not in several


def test_api_history_and_diff(world):
    app = world[0]
    client = client_of(app, "engineer")
    data = client.get(f"/api/v1/cases/{PUBLIC}/history").get_json()
    assert (
        data["ok"]
        and data["available"]
        and [v["summary"] for v in data["versions"]] == ["Update ESC-2026-0001: cause", "seed"]
    )
    new, old = (v["sha"] for v in data["versions"])
    diff = client.get(f"/api/v1/cases/{PUBLIC}/history?a={old}&b={new}").get_json()["diff"]
    cause = next(s for s in diff["sections"] if s["name"] == "cause")
    assert ["delete", "30"] in cause["runs"] and ["insert", "60"] in cause["runs"]
    assert client.get(f"/api/v1/cases/{PUBLIC}/history?a=zzz").status_code == 400
    assert client.get(f"/api/v1/cases/{PUBLIC}/history?a={'0' * 40}").status_code == 404


def test_history_obeys_visibility(world):
    app = world[0]
    support = client_of(app, "support")
    for url in (
        f"/cases/{SECRET}/history",
        f"/api/v1/cases/{SECRET}/history",
        f"/cases/{RAISED}/history",
    ):
        response = support.get(url)
        assert response.status_code == 404 and "VELVET-OWL" not in response.get_data(as_text=True)
    engineer = client_of(app, "engineer")
    assert engineer.get(f"/cases/{SECRET}/history").status_code == 404
    raised = engineer.get(f"/api/v1/cases/{RAISED}/history").get_json()
    assert len(raised["versions"]) == 2  # an engineer could read both
    assert client_of(app, "admin").get(f"/cases/{SECRET}/history").status_code == 200


def test_lowered_visibility_keeps_the_restricted_past_hidden(world):
    app, settings, repo, folder = world[:4]
    (folder / f"{SECRET}.md").write_text(
        case_text(SECRET, title="Now public", cause="Public text."), "utf-8"
    )
    with repo.writing():
        repo.commit_file(folder / f"{SECRET}.md", ALICE, "lower")
    run_index(settings)
    support = client_of(app, "support")
    data = support.get(f"/api/v1/cases/{SECRET}/history").get_json()
    assert [v["summary"] for v in data["versions"]] == ["lower"] and data["hidden"] == 1
    old = (
        client_of(app, "admin")
        .get(f"/api/v1/cases/{SECRET}/history")
        .get_json()["versions"][1]["sha"]
    )
    app.config["KB_ROLE"] = "support"
    response = support.get(f"/cases/{SECRET}/history?a={old}")
    assert response.status_code == 404 and "VELVET-OWL" not in response.get_data(as_text=True)


def _token(client, url: str) -> str:
    return re.search(
        r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(as_text=True)
    ).group(1)


def test_restore_makes_a_new_commit_and_reindexes(world):
    app, settings, repo, folder = world[:4]
    engineer = client_of(app, "engineer")
    versions = engineer.get(f"/api/v1/cases/{PUBLIC}/history").get_json()["versions"]
    seed = versions[-1]["sha"]
    url = f"/cases/{PUBLIC}/history"
    assert (
        engineer.post(f"{url}/restore", data={"version": seed}).status_code == 400
    )  # no CSRF token
    response = engineer.post(
        f"{url}/restore", data={"version": seed, "csrf_token": _token(engineer, url)}
    )
    assert response.status_code == 303
    assert (folder / f"{PUBLIC}.md").read_text("utf-8") == case_text(
        PUBLIC, cause="タイムアウトは 30 秒でした。"
    )
    log = repo.log(f"{PUBLIC}.md")
    assert (
        len(log) == 3
        and log[0].summary.startswith(f"Restore {PUBLIC}")
        and log[0].author.name == "local"
    )
    assert git(folder, "status", "--porcelain") == ""
    stored = app.extensions["kb"].store.get_case(PUBLIC)
    assert "30 秒" in stored.section_text("cause")
    support = client_of(app, "support")
    assert (
        support.post(
            f"{url}/restore", data={"version": seed, "csrf_token": _token(support, "/")}
        ).status_code
        == 403
    )


def test_conflicting_upstream_edit_waits_for_merge_with_both_texts(world):
    app, settings, repo, folder, user = world
    assert sync(
        repo, settings.git_remote, settings.git_branch
    ).pushed  # the fixture's edits, shared
    git(user, "pull", "-q")
    (user / f"{PUBLIC}.md").write_text(case_text(PUBLIC, cause="上流での修正: 90 秒。"), "utf-8")
    git(user, "commit", "-qam", "upstream fix")
    # the product's web edit, made before it saw the upstream change
    (folder / f"{PUBLIC}.md").write_text(case_text(PUBLIC, cause="Web での修正: 120 秒。"), "utf-8")
    with repo.writing():
        repo.commit_file(folder / f"{PUBLIC}.md", ALICE, "web edit")
    git(user, "push", "-q")
    result = sync(repo, settings.git_remote, settings.git_branch)
    assert result.synced and len(result.waiting) == 1
    run_index(settings)
    engineer = client_of(app, "engineer")
    case_page = engineer.get(f"/cases/{PUBLIC}").get_data(as_text=True)
    assert "1 edit(s) waiting for merge" in case_page
    assert "waiting for merge" not in client_of(app, "support").get(f"/cases/{PUBLIC}").get_data(
        as_text=True
    )
    branch = result.waiting[0]["branch"]
    page = client_of(app, "engineer").get(f"/cases/{PUBLIC}/history?pending={branch}")
    body = text_of(page)
    assert "Edit waiting for merge" in body and branch in body
    assert (
        "<del>上流</del><ins>Web </ins><span>での修正: </span><del>90</del><ins>120</ins>"
        in page.get_data(as_text=True)
    )
    diff = (
        client_of(app, "engineer")
        .get(f"/api/v1/cases/{PUBLIC}/history?pending={branch}")
        .get_json()["diff"]
    )
    runs = next(s for s in diff["sections"] if s["name"] == "cause")["runs"]
    assert (
        "".join(t for op, t in runs if op != "insert") == "上流での修正: 90 秒。"
    )  # both versions kept and shown
    assert "".join(t for op, t in runs if op != "delete") == "Web での修正: 120 秒。"
    api = client_of(app, "engineer").get(f"/api/v1/cases/{PUBLIC}/history").get_json()
    assert api["pending"][0]["branch"] == branch and api["pending"][0]["author"] == "alice"


# -- saves from the editor are commits ------------------------------------------------------------------


def test_a_web_save_is_exactly_one_commit_by_the_signed_in_user(world):
    from test_editor import form_values, new_form

    app, settings, repo, folder = world[:4]
    engineer = client_of(app, "engineer")
    before = git(folder, "rev-list", "--count", "HEAD")
    values = form_values(engineer.get(f"/cases/{PUBLIC}/edit"))
    assert "summary" in values and "not a git working copy" not in engineer.get(
        f"/cases/{PUBLIC}/edit"
    ).get_data(as_text=True)
    values.update({"section_resolution": "Raise the timeout to 120 seconds.", "action": "save"})
    response = engineer.post(f"/cases/{PUBLIC}/edit", data=values)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    assert int(git(folder, "rev-list", "--count", "HEAD")) == int(before) + 1
    shown = git(folder, "show", "--name-only", "--format=%an <%ae>|%cn|%s", "HEAD").split("\n")
    assert (
        shown[0] == f"local <local@users.noreply.kb>|Escalation KB|Update {PUBLIC}: resolution"
        and shown[2] == f"{PUBLIC}.md"
    )
    assert git(folder, "status", "--porcelain") == ""
    # with a summary of the author's own, and a new case
    values = form_values(engineer.get(f"/cases/{PUBLIC}/edit"))
    values.update(
        {
            "section_resolution": "Raise the timeout to 180 seconds.",
            "summary": "Longer timeout  after load test",
            "action": "save",
        }
    )
    assert engineer.post(f"/cases/{PUBLIC}/edit", data=values).status_code == 303
    assert git(folder, "log", "-1", "--format=%s") == "Longer timeout after load test\n"
    assert engineer.post("/new", data={**new_form(engineer), "action": "save"}).status_code == 303
    assert git(folder, "log", "-1", "--format=%s").startswith("Create ESC-")
    assert git(folder, "status", "--porcelain") == ""
    assert len(git(folder, "show", "--name-only", "--format=", "HEAD").split()) == 1


def test_a_folder_that_is_no_working_copy_saves_as_before_and_says_so_once(settings, write_cases):
    from test_editor import form_values

    write_cases({f"{PUBLIC}.md": case_text(PUBLIC)})
    assert run_index(settings).published
    app = create_app(settings, test_config={"KB_ROLE": "engineer", "KB_EDITOR_INDEX_WAIT": 0})
    try:
        engineer = client_of(app, "engineer")
        first = engineer.get(f"/cases/{PUBLIC}/edit")
        assert "not a git working copy" in first.get_data(as_text=True)
        values = form_values(first)
        assert "not a git working copy" not in engineer.get(f"/cases/{PUBLIC}/edit").get_data(
            as_text=True
        )
        values.update({"section_resolution": "Saved without git.", "action": "save"})
        assert engineer.post(f"/cases/{PUBLIC}/edit", data=values).status_code == 303
        assert "Saved without git." in (settings.cases_dir / f"{PUBLIC}.md").read_text("utf-8")
        assert "not a git working copy" in engineer.get(f"/cases/{PUBLIC}/history").get_data(
            as_text=True
        )
    finally:
        app.extensions["kb"].close()


def test_an_upstream_change_to_a_case_open_in_the_editor_is_a_conflict(world):
    from test_editor import form_values

    app, settings, repo, folder, user = world
    assert sync(repo, settings.git_remote, settings.git_branch).pushed
    engineer = client_of(app, "engineer")
    values = form_values(
        engineer.get(f"/cases/{PUBLIC}/edit")
    )  # opened before the upstream change arrives
    git(user, "pull", "-q")
    (user / f"{PUBLIC}.md").write_text(case_text(PUBLIC, cause="An upstream cause."), "utf-8")
    git(user, "commit", "-qam", "upstream")
    git(user, "push", "-q")
    assert sync(repo, settings.git_remote, settings.git_branch).pulled == 1
    values.update({"section_resolution": "My web resolution.", "action": "save"})
    assert (
        engineer.post(f"/cases/{PUBLIC}/edit", data=values).status_code == 409
    )  # the editor's own check
    assert "An upstream cause." in (folder / f"{PUBLIC}.md").read_text("utf-8")
    assert git(folder, "status", "--porcelain") == ""


def test_sync_after_save(world):
    from kb.history import sync_in_background

    app, settings, repo, folder, user = world
    sync_in_background(settings.replace(git_sync_after_save=True)).join(timeout=60)
    assert git(folder, "rev-parse", "HEAD") == git(folder, "rev-parse", "origin/main")


def test_an_engineer_marks_a_waiting_edit_merged(world):
    app, settings, repo, folder, user = world
    assert sync(repo, settings.git_remote, settings.git_branch).pushed
    git(user, "pull", "-q")
    (user / f"{PUBLIC}.md").write_text(case_text(PUBLIC, cause="Upstream."), "utf-8")
    git(user, "commit", "-qam", "upstream")
    (folder / f"{PUBLIC}.md").write_text(case_text(PUBLIC, cause="Web."), "utf-8")
    with repo.writing():
        repo.commit_file(folder / f"{PUBLIC}.md", ALICE, "web edit")
    git(user, "push", "-q")
    branch = sync(repo, settings.git_remote, settings.git_branch).waiting[0]["branch"]
    engineer = client_of(app, "engineer")
    url = f"/cases/{PUBLIC}/history"
    assert "Mark as merged" in engineer.get(url).get_data(as_text=True)
    token = _token(engineer, url)
    assert (
        engineer.post(
            f"{url}/resolve", data={"branch": "kb/pending/other", "csrf_token": token}
        ).status_code
        == 404
    )
    support = client_of(app, "support")
    assert (
        support.post(
            f"{url}/resolve", data={"branch": branch, "csrf_token": _token(support, "/")}
        ).status_code
        == 403
    )
    engineer = client_of(app, "engineer")
    assert (
        engineer.post(
            f"{url}/resolve", data={"branch": branch, "csrf_token": _token(engineer, url)}
        ).status_code
        == 303
    )
    assert "waiting for merge" not in engineer.get(f"/cases/{PUBLIC}").get_data(as_text=True)
    assert sync(repo, settings.git_remote, settings.git_branch).waiting == []
    from kb.accounts import audit_events

    assert any(
        e["action"] == "case_merge_resolved" for e in audit_events(app.extensions["kb"].store)
    )


REFUSING_HOOK = (
    '#!/bin/sh\n[ "$1" = prepared ] && { echo "refused by a test hook" >&2; exit 1; }\nexit 0\n'
)


def refuse_commits(folder: Path) -> Path:
    """Make every commit in ``folder`` fail after its file was staged (git's reference-transaction
    hook aborts the update of the branch: a commit that git itself refuses, not a mock)."""
    hook = folder / ".git" / "hooks" / "reference-transaction"
    hook.write_text(REFUSING_HOOK, "utf-8")
    hook.chmod(0o755)
    return hook


def test_a_save_git_refuses_leaves_the_file_and_the_history_as_they_were(world, caplog):
    from test_editor import form_values, new_form

    app, settings, repo, folder = world[:4]
    engineer = client_of(app, "engineer")
    path = folder / f"{PUBLIC}.md"
    before, head = path.read_bytes(), git(folder, "rev-parse", "HEAD")
    files = sorted(p.name for p in folder.iterdir())
    values = form_values(engineer.get(f"/cases/{PUBLIC}/edit"))
    values.update({"section_resolution": "Raise the timeout to 120 seconds.", "action": "save"})
    hook = refuse_commits(folder)

    edit = engineer.post(f"/cases/{PUBLIC}/edit", data=values)
    assert edit.status_code == 503
    shown = text_of(edit)
    assert "Not saved: the case file could not be written and recorded in the history" in shown
    assert "Raise the timeout to 120 seconds." in shown  # the draft stays in the form
    created = engineer.post("/new", data={**new_form(engineer), "action": "save"})
    assert created.status_code == 503 and "Not saved" in text_of(created)
    seed = engineer.get(f"/api/v1/cases/{PUBLIC}/history").get_json()["versions"][-1]["sha"]
    url = f"/cases/{PUBLIC}/history"
    restored = engineer.post(
        f"{url}/restore", data={"version": seed, "csrf_token": _token(engineer, url)}
    )
    assert restored.status_code == 503 and f"{PUBLIC}.md was not saved" in text_of(restored)

    assert path.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == files  # no new case, no temporary file
    assert git(folder, "status", "--porcelain") == ""  # nothing left staged either
    assert git(folder, "rev-parse", "HEAD") == head
    assert "refused by a test hook" in caplog.text  # what git said goes to the log
    # once git works again the same form saves: the file is still the one it was opened from
    hook.unlink()
    assert engineer.post(f"/cases/{PUBLIC}/edit", data=values).status_code == 303
    assert "Raise the timeout to 120 seconds." in path.read_text("utf-8")
    assert git(folder, "status", "--porcelain") == ""


def test_a_save_while_git_holds_its_index_lock_is_refused_whole(world):
    from test_editor import form_values

    app, settings, repo, folder = world[:4]
    engineer = client_of(app, "engineer")
    path = folder / f"{PUBLIC}.md"
    before = path.read_bytes()
    values = form_values(engineer.get(f"/cases/{PUBLIC}/edit"))
    values.update({"section_resolution": "Locked out.", "action": "save"})
    (folder / ".git" / "index.lock").write_text("", "utf-8")  # another git at work: git add fails
    response = engineer.post(f"/cases/{PUBLIC}/edit", data=values)
    assert response.status_code == 503 and "Not saved" in text_of(response)
    assert path.read_bytes() == before
    (folder / ".git" / "index.lock").unlink()
    assert git(folder, "status", "--porcelain") == ""


def test_a_case_deleted_on_disk_stays_an_unstaged_deletion_when_its_restore_fails(world):
    app, settings, repo, folder = world[:4]
    engineer = client_of(app, "engineer")
    seed = engineer.get(f"/api/v1/cases/{PUBLIC}/history").get_json()["versions"][-1]["sha"]
    (folder / f"{PUBLIC}.md").unlink()  # removed by hand, not committed
    refuse_commits(folder)
    url = f"/cases/{PUBLIC}/history"
    token = _token(engineer, "/")
    engineer.post(f"{url}/restore", data={"version": seed, "csrf_token": token})
    assert not (folder / f"{PUBLIC}.md").exists()
    assert git(folder, "status", "--porcelain") == f" D {PUBLIC}.md\n"  # not staged by the undo


def test_a_commit_that_lands_before_git_times_out_is_a_save(world, monkeypatch):
    from test_editor import form_values

    import kb.repo

    app, settings, repo, folder = world[:4]
    engineer = client_of(app, "engineer")
    values = form_values(engineer.get(f"/cases/{PUBLIC}/edit"))
    values.update({"section_resolution": "Saved despite a slow hook.", "action": "save"})
    hook = folder / ".git" / "hooks" / "post-commit"
    hook.write_text("#!/bin/sh\nsleep 4\n", "utf-8")  # runs after the branch moved
    hook.chmod(0o755)
    head = git(folder, "rev-parse", "HEAD")
    monkeypatch.setattr(kb.repo, "GIT_TIMEOUT_S", 1.5)
    assert engineer.post(f"/cases/{PUBLIC}/edit", data=values).status_code == 303
    assert git(folder, "rev-parse", "HEAD") != head  # recorded, and the file kept as committed
    assert "Saved despite a slow hook." in (folder / f"{PUBLIC}.md").read_text("utf-8")
    assert git(folder, "status", "--porcelain") == ""
