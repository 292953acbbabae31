"""kb.repo: commits of one file, logs, stale locks, and the sync with a bare remote (real git, tmp folders)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import case_text
from worlds import git, make_world

from kb.errors import GitError
from kb.repo import (
    PENDING_PREFIX,
    Person,
    commit_leftovers,
    open_repo,
    pending_edits,
    recover_stale_locks,
    sync,
)

ALICE = Person("alice", "alice@example.com")
BOB = Person("bob", "bob@example.com")
KB = Person("Escalation KB", "kb@example.com")


def test_not_a_working_copy(tmp_path):
    assert open_repo(tmp_path) is None
    assert open_repo(tmp_path / "missing") is None


def test_commit_exactly_one_file_with_its_author(tmp_path):
    _, folder, _ = make_world(
        tmp_path, {"ESC-2026-0001.md": case_text(), "ESC-2026-0002.md": case_text("ESC-2026-0002")}
    )
    repo = open_repo(folder, KB)
    assert repo is not None
    (folder / "ESC-2026-0001.md").write_text(case_text(cause="A new cause."), "utf-8")
    (folder / "ESC-2026-0002.md").write_text(
        case_text("ESC-2026-0002", cause="Someone else's edit."), "utf-8"
    )
    git(folder, "add", "ESC-2026-0002.md")  # staged by someone else: must stay out of the commit
    with repo.writing():
        sha = repo.commit_file(folder / "ESC-2026-0001.md", ALICE, "Update ESC-2026-0001: cause")
    assert sha is not None
    assert git(folder, "show", "--name-only", "--format=%an <%ae>|%cn <%ce>|%s", sha).split("\n")[
        :3
    ] == [
        "alice <alice@example.com>|Escalation KB <kb@example.com>|Update ESC-2026-0001: cause",
        "",
        "ESC-2026-0001.md",
    ]
    assert git(folder, "status", "--porcelain") == "M  ESC-2026-0002.md\n"
    with repo.writing():
        assert (
            repo.commit_file(folder / "ESC-2026-0001.md", ALICE, "nothing") is None
        )  # unchanged: no commit
    log = repo.log("ESC-2026-0001.md")
    assert [c.summary for c in log] == ["Update ESC-2026-0001: cause", "seed"]
    assert log[0].author == ALICE and repo.show(log[1].sha, "ESC-2026-0001.md") == case_text()


def test_a_summary_with_control_characters_still_commits(tmp_path):
    _, folder, _ = make_world(tmp_path, {"ESC-2026-0001.md": case_text()})
    repo = open_repo(folder, KB)
    (folder / "ESC-2026-0001.md").write_text(case_text(cause="A new cause."), "utf-8")
    with repo.writing():
        sha = repo.commit_file(folder / "ESC-2026-0001.md", ALICE, "a\x00b\x1bc")
    assert sha is not None and repo.log("ESC-2026-0001.md")[0].summary == "a b c"
    assert git(folder, "status", "--porcelain") == ""  # nothing left written but not committed


def test_a_new_case_like_another_has_only_its_own_history(tmp_path):
    body = case_text("ESC-2026-0001", cause="The same long cause text. " * 20)
    _, folder, _ = make_world(tmp_path, {"ESC-2026-0001.md": body})
    repo = open_repo(folder, KB)
    (folder / "ESC-2026-0001.md").write_text(body + "\nOne more line.\n", "utf-8")
    with repo.writing():
        repo.commit_file(folder / "ESC-2026-0001.md", ALICE, "Embargoed detail of 0001")
    (folder / "ESC-2026-0002.md").write_text(
        body.replace("ESC-2026-0001", "ESC-2026-0002"), "utf-8"
    )
    with repo.writing():
        repo.commit_file(folder / "ESC-2026-0002.md", BOB, "New case 0002")
    assert [c.summary for c in repo.log("ESC-2026-0002.md")] == ["New case 0002"]


def test_new_file_and_temporary_files_kept_out_of_status(tmp_path):
    _, folder, _ = make_world(tmp_path)
    repo = open_repo(folder, KB)
    assert repo is not None
    (folder / ".ESC-2026-0002.md.abc.tmp").write_text("half", "utf-8")
    (folder / "ESC-2026-0002.md").write_text(case_text("ESC-2026-0002"), "utf-8")
    with repo.writing():
        assert repo.commit_file(folder / "ESC-2026-0002.md", BOB, "Create ESC-2026-0002")
    assert git(folder, "status", "--porcelain") == ""


def test_stale_index_lock_is_recovered_but_a_fresh_one_is_not(tmp_path):
    _, folder, _ = make_world(tmp_path)
    repo = open_repo(folder, KB, lock_stale_seconds=5)
    assert repo is not None
    lock = repo.git_dir / "index.lock"
    lock.write_text("")
    assert recover_stale_locks(repo) == [] and lock.exists()  # young: a git may be working
    old = time.time() - 60
    os.utime(lock, (old, old))
    assert recover_stale_locks(repo) == [lock] and not lock.exists()
    (folder / "ESC-2026-0001.md").write_text(case_text(cause="x"), "utf-8")
    lock.write_text("")
    os.utime(lock, (old, old))
    with repo.writing():  # recovers by itself
        assert repo.commit_file(folder / "ESC-2026-0001.md", ALICE, "after a crash")


def test_a_lock_held_by_a_live_git_is_kept(tmp_path):
    _, folder, _ = make_world(tmp_path)
    repo = open_repo(folder, KB, lock_stale_seconds=0)
    assert repo is not None
    lock = repo.git_dir / "index.lock"
    lock.write_text("")
    # a git process working in this repository (waiting on its editor, here: sleeping)
    waiting = subprocess.Popen(
        ["git", "-C", str(folder), "-c", "core.editor=sleep 5;:", "config", "--edit"]
    )
    try:
        time.sleep(0.3)
        assert recover_stale_locks(repo) == [] and lock.exists()
    finally:
        waiting.kill()
        waiting.wait()
    assert recover_stale_locks(repo) == [lock]


def test_sync_pushes_local_and_pulls_upstream(tmp_path):
    remote, folder, user = make_world(
        tmp_path, {"ESC-2026-0001.md": case_text(), "ESC-2026-0002.md": case_text("ESC-2026-0002")}
    )
    repo = open_repo(folder, KB)
    assert repo is not None
    (folder / "ESC-2026-0001.md").write_text(case_text(cause="web edit"), "utf-8")
    with repo.writing():
        repo.commit_file(folder / "ESC-2026-0001.md", ALICE, "web edit")
    (user / "ESC-2026-0002.md").write_text(case_text("ESC-2026-0002", cause="git edit"), "utf-8")
    git(user, "commit", "-qam", "git edit")
    git(user, "push", "-q")
    result = sync(repo, "origin", "main")
    assert (
        result.synced
        and result.pulled == 1
        and result.replayed == 1
        and result.pushed
        and not result.pending
    )
    assert "git edit" in (folder / "ESC-2026-0002.md").read_text()
    git(user, "pull", "-q")
    assert "web edit" in (user / "ESC-2026-0001.md").read_text()
    assert (
        git(user, "log", "-1", "--format=%an %s") == "alice web edit\n"
    )  # the author survives the replay
    again = sync(repo, "origin", "main")
    assert again.synced and not again.pushed and again.pulled == 0


def test_conflicting_edits_wait_on_a_side_branch(tmp_path):
    remote, folder, user = make_world(tmp_path)
    repo = open_repo(folder, KB)
    assert repo is not None
    (folder / "ESC-2026-0001.md").write_text(case_text(cause="The web editor's cause."), "utf-8")
    with repo.writing():
        web = repo.commit_file(folder / "ESC-2026-0001.md", ALICE, "web edit")
    (user / "ESC-2026-0001.md").write_text(case_text(cause="The git user's cause."), "utf-8")
    git(user, "commit", "-qam", "git edit")
    git(user, "push", "-q")
    result = sync(repo, "origin", "main")
    assert result.synced and result.pushed is False and len(result.pending) == 1
    branch = result.pending[0]["branch"]
    assert branch == f"{PENDING_PREFIX}ESC-2026-0001-{web[:7]}"
    assert (
        "The git user's cause." in (folder / "ESC-2026-0001.md").read_text()
    )  # upstream wins in the file
    waiting = pending_edits(repo, "ESC-2026-0001.md")
    assert [p.branch for p in waiting] == [branch] and waiting[0].commit.author == ALICE
    assert "The web editor's cause." in (repo.show(waiting[0].commit.sha, "ESC-2026-0001.md") or "")
    assert branch in git(user, "ls-remote", "origin")  # shared with git users too
    assert git(folder, "status", "--porcelain") == ""
    # marked merged by hand: it stops waiting, its commit stays (kb/resolved/), the remote follows at the next sync
    from kb.repo import RESOLVED_PREFIX, resolve_pending

    kept = resolve_pending(repo, branch)
    assert (
        kept == RESOLVED_PREFIX + branch.removeprefix(PENDING_PREFIX) and pending_edits(repo) == []
    )
    after = sync(repo, "origin", "main")
    assert after.synced and after.waiting == [] and not after.error, after
    remote_refs = git(user, "ls-remote", "origin")
    assert branch not in remote_refs and kept in remote_refs and web in remote_refs
    with pytest.raises(GitError, match="not an edit waiting for a merge"):
        resolve_pending(repo, "main")
    # once someone merges it by hand, it no longer waits
    git(user, "fetch", "-q")
    (user / "ESC-2026-0001.md").write_text(case_text(cause="The web editor's cause."), "utf-8")
    git(user, "commit", "-qam", "merged by hand")
    git(user, "push", "-q")
    assert sync(repo, "origin", "main").waiting == []


def test_non_overlapping_edits_of_one_case_merge(tmp_path):
    _, folder, user = make_world(tmp_path)
    repo = open_repo(folder, KB)
    assert repo is not None
    (folder / "ESC-2026-0001.md").write_text(case_text(resolution="Web resolution."), "utf-8")
    with repo.writing():
        repo.commit_file(folder / "ESC-2026-0001.md", ALICE, "web edit")
    (user / "ESC-2026-0001.md").write_text(case_text(title="A git title"), "utf-8")
    git(user, "commit", "-qam", "git edit")
    git(user, "push", "-q")
    result = sync(repo, "origin", "main")
    assert result.synced and not result.pending and result.pushed
    text = (folder / "ESC-2026-0001.md").read_text()
    assert "Web resolution." in text and "A git title" in text


def test_sync_without_remote_and_leftovers(tmp_path):
    folder = tmp_path / "solo"
    git(tmp_path, "init", "-q", "-b", "main", str(folder))
    repo = open_repo(folder, KB)
    assert repo is not None
    (folder / "ESC-2026-0001.md").write_text(
        case_text(), "utf-8"
    )  # as an interrupted save leaves it
    result = sync(repo, "origin", "", cases_dir=folder)
    assert (
        not result.synced
        and result.reason == "no remote 'origin'"
        and result.recovered == ["ESC-2026-0001.md"]
    )
    assert git(folder, "status", "--porcelain") == ""
    assert commit_leftovers(repo, folder) == []


def test_empty_remote_gets_the_first_push(tmp_path):
    remote = tmp_path / "empty.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    folder = tmp_path / "kb"
    git(tmp_path, "clone", "-q", str(remote), str(folder))
    repo = open_repo(folder, KB)
    assert repo is not None
    (folder / "ESC-2026-0001.md").write_text(case_text(), "utf-8")
    with repo.writing():
        repo.commit_file(folder / "ESC-2026-0001.md", ALICE, "first")
    result = sync(repo, "origin", "main")
    assert result.synced and result.pushed, result
    assert git(remote, "log", "--format=%s", "main") == "first\n"


@pytest.mark.parametrize("n", [100])
def test_sync_of_many_changed_cases(tmp_path, n):
    files = {f"ESC-2026-{i:04d}.md": case_text(f"ESC-2026-{i:04d}") for i in range(1, n + 1)}
    _, folder, user = make_world(tmp_path, files)
    repo = open_repo(folder, KB)
    assert repo is not None
    for i in range(1, n + 1, 2):
        name = f"ESC-2026-{i:04d}.md"
        (folder / name).write_text(case_text(f"ESC-2026-{i:04d}", cause=f"web {i}"), "utf-8")
        with repo.writing():
            repo.commit_file(folder / name, ALICE, f"web {i}")
    for i in range(2, n + 1, 2):
        (user / f"ESC-2026-{i:04d}.md").write_text(
            case_text(f"ESC-2026-{i:04d}", cause=f"git {i}"), "utf-8"
        )
    git(user, "commit", "-qam", "git edits")
    git(user, "push", "-q")
    result = sync(repo, "origin", "main")
    assert result.synced and result.replayed == n // 2 and not result.pending


CRASH_SAVER = r"""
import sys
from pathlib import Path
from kb import history
from kb.authoring import file_hash, save_case_file
from kb.repo import Person
from kb.settings import load_settings
sys.path.insert(0, sys.argv[2])
from conftest import case_text
from worlds import git, make_world

settings = load_settings(environ={}, cases_dir=Path(sys.argv[1]), data_dir=Path(sys.argv[1]).parent / "data",
                         embed_model="hash:256", git_lock_stale_seconds=0)
repo = history.repo_for(settings)
path = settings.cases_dir / "ESC-2026-0001.md"
n = 0
while True:  # save after save, as the editor does, until killed
    n += 1
    with history.writing(repo):
        old = history.read_text(path)
        save_case_file(settings.cases_dir, "ESC-2026-0001", case_text(cause=f"Save number {n}. " * 200), file_hash(path))
        history.commit_save(repo, path, "ESC-2026-0001", old, Person("alice", "alice@example.com"))
"""


def test_kill_9_during_saves_leaves_a_clean_repository_and_a_searchable_case(tmp_path):
    import random
    import signal
    import sys

    from indexer.jobs import run_index
    from indexer.searcher import Searcher, SearchRequest
    from kb import history
    from kb.authoring import file_hash, save_case_file
    from kb.migrate import open_store
    from kb.parse import parse_case
    from kb.settings import load_settings

    _, folder, _ = make_world(tmp_path)
    settings = load_settings(
        environ={},
        cases_dir=folder,
        data_dir=tmp_path / "data",
        embed_model="hash:256",
        git_lock_stale_seconds=0,
    )
    tests_dir = str(Path(__file__).parent)
    rng = random.Random(19)
    path = folder / "ESC-2026-0001.md"
    states = []
    for run in range(10):
        errors = tmp_path / f"saver-{run}.err"
        with errors.open("wb") as err:
            saver = subprocess.Popen(
                [sys.executable, "-c", CRASH_SAVER, str(folder), tests_dir],
                start_new_session=True,
                stderr=err,
            )
        time.sleep(rng.uniform(0.4, 1.2))  # imports take about 0.3 s; then saves run back to back
        os.killpg(saver.pid, signal.SIGKILL)  # the saver and any git it was running
        saver.wait()
        assert saver.returncode == -signal.SIGKILL, errors.read_text()[-2000:]
        fsck = subprocess.run(
            ["git", "-C", str(folder), "fsck", "--no-dangling"], capture_output=True, text=True
        )
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
        case = parse_case(path.read_text("utf-8"), path.name)  # never half a file
        assert case.id == "ESC-2026-0001"
        status = git(folder, "status", "--porcelain")
        assert status in (
            "",
            " M ESC-2026-0001.md\n",
            "M  ESC-2026-0001.md\n",
            "MM ESC-2026-0001.md\n",
        ), status
        states.append(
            (status or "clean").strip()
            + (" +index.lock" if (folder / ".git" / "index.lock").exists() else "")
        )
        # the next save recovers whatever the kill left (a stale index.lock, an uncommitted file)
        repo = history.repo_for(settings)
        with history.writing(repo):
            old = history.read_text(path)
            save_case_file(
                folder,
                "ESC-2026-0001",
                case_text(cause=f"Recovered after kill {run}."),
                file_hash(path),
            )
            assert history.commit_save(repo, path, "ESC-2026-0001", old, ALICE, f"after kill {run}")
        assert git(folder, "status", "--porcelain") == ""
        assert not (repo.git_dir / "index.lock").exists()
    print("states after each kill:", states)
    assert run_index(settings).published
    store = open_store(settings)
    try:
        hits = (
            Searcher(settings, store)
            .search(SearchRequest(text="Recovered after kill 9", role="support"))
            .hits
        )
        assert hits and hits[0].id == "ESC-2026-0001"
    finally:
        store.close()
    assert len(repo_log := open_repo(folder).log("ESC-2026-0001.md")) > 10, repo_log  # type: ignore[union-attr]


def test_bench_history_smoke():
    """scripts/bench_history.py runs in smoke mode (5 saves, a sync of 10 cases) and prints its figures."""
    import sys

    repo_root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, str(repo_root / "scripts" / "bench_history.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=repo_root,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert (
        "save with commit (" in out and "p95" in out and "git status after the saves: clean" in out
    )
    assert "sync of 10 changed cases (upstream changed other cases)" in out and "replayed 10" in out
    assert "set aside 10" in out
