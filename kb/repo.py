"""The cases repository: the one module that runs git (its command line, no library).

Everything the product does to the git working copy that holds the case files goes through here:
is the folder a working copy, commit one file with an author and a message, the log of a path,
a file as it was at a commit, a stale lock left by a killed git recovered safely, and the sync with
a remote (fetch, replay local commits on the upstream branch, push). Writers of the working copy
(a save, a restore, a sync) hold :meth:`Repo.writing`, an OS file lock in the git folder, so they
never interleave, across threads and processes; the OS drops it when a process dies.

A local commit that cannot be replayed on the upstream branch because upstream changed the same
lines of the same case is never dropped: it stays on a side branch ``kb/pending/<case>-<sha>``
(pushed too), listed by :func:`pending_edits`, until someone merges it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kb.errors import GitError

log = logging.getLogger(__name__)
GIT_TIMEOUT_S = 300
PENDING_PREFIX = "kb/pending/"
RESOLVED_PREFIX = "kb/resolved/"  # a pending edit someone merged by hand: kept (nothing is lost), no longer waiting
LOCK_FILE = "kb-write.lock"  # inside the git folder: never part of the working tree
TEMP_PATTERN = (
    ".*.md.*.tmp"  # the editor's temporary files (kb.authoring), kept out of `git status`
)
_FIELD, _RECORD = "\x1f", "\x1e"
_thread_lock = threading.Lock()


@dataclass(frozen=True)
class Person:
    """A commit author or committer."""

    name: str
    email: str


@dataclass(frozen=True)
class Commit:
    """One commit as the history shows it."""

    sha: str
    author: Person
    date: datetime
    summary: str

    @property
    def short(self) -> str:
        return self.sha[:10]


@dataclass(frozen=True)
class PendingEdit:
    """A web edit kept on a side branch because it conflicted with an upstream change."""

    branch: str
    commit: Commit
    path: str  # relative to the repository root


@dataclass
class SyncResult:
    """What a sync did: the commits pulled and pushed, the edits set aside, and any error."""

    synced: bool
    reason: str = ""
    remote: str = ""
    branch: str = ""
    pulled: int = 0
    replayed: int = 0
    pushed: bool = False
    pending: list[dict[str, str]] = field(default_factory=list)  # set aside by this run
    waiting: list[dict[str, str]] = field(default_factory=list)  # every side branch still unmerged
    recovered: list[str] = field(default_factory=list)  # files an interrupted save left uncommitted
    error: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "synced": self.synced,
            "reason": self.reason,
            "remote": self.remote,
            "branch": self.branch,
            "pulled": self.pulled,
            "replayed": self.replayed,
            "pushed": self.pushed,
            "pending": self.pending,
            "waiting": self.waiting,
            "recovered": self.recovered,
            "error": self.error,
        }


@dataclass(frozen=True)
class Repo:
    """A git working copy: its top folder and git folder, and who commits in it."""

    root: Path
    git_dir: Path
    committer: Person = Person("Escalation KB", "kb@localhost")
    lock_stale_seconds: float = 30.0

    # -- running git ------------------------------------------------------------------------------

    def git(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        input_text: str | None = None,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``git`` in the working copy (committer identity set, no prompts, no pager)."""
        full_env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_PAGER": "cat",
            "LC_ALL": "C",
            "GIT_COMMITTER_NAME": self.committer.name,
            "GIT_COMMITTER_EMAIL": self.committer.email,
            **(env or {}),
        }
        cmd = [
            "git",
            "-C",
            str(self.root),
            "-c",
            f"user.name={self.committer.name}",
            "-c",
            f"user.email={self.committer.email}",
            "-c",
            "core.quotepath=off",
            "-c",
            "commit.gpgsign=false",
            *args,
        ]
        run = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=full_env,
            input=input_text,
            timeout=GIT_TIMEOUT_S if timeout is None else timeout,
        )
        if check and run.returncode != 0:
            raise GitError(f"git {args[0]} failed", (run.stderr or run.stdout).strip()[-2000:])
        return run

    def relpath(self, path: Path) -> str:
        """``path`` relative to the repository root, with forward slashes."""
        return Path(os.path.realpath(path)).relative_to(os.path.realpath(self.root)).as_posix()

    # -- locks --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the product's write lock on this working copy (threads and processes wait in turn)."""
        with _thread_lock:
            fd = os.open(self.git_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                recover_stale_locks(self)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    # -- reading ------------------------------------------------------------------------------------

    def head(self) -> str | None:
        run = self.git("rev-parse", "--verify", "-q", "HEAD", check=False)
        return run.stdout.strip() or None

    def branch_name(self) -> str:
        return self.git("symbolic-ref", "--short", "HEAD").stdout.strip()

    def log(self, relpath: str, limit: int = 500, rev: str = "HEAD") -> list[Commit]:
        """Commits that changed ``relpath`` (newest first), at that path only: ``--follow`` took a
        new case file similar to another for a copy of it and listed the other case's commits
        (their authors and summaries, whatever that case's visibility), whose text at this path
        could then not be read either."""
        if self.head() is None:
            return []
        out = self.git(
            "log",
            f"--max-count={limit}",
            "--no-renames",
            f"--format=%H{_FIELD}%an{_FIELD}%ae{_FIELD}%aI{_FIELD}%s{_RECORD}",
            rev,
            "--",
            relpath,
        ).stdout
        return [_commit(record) for record in out.split(_RECORD) if record.strip()]

    def commit_info(self, rev: str) -> Commit:
        out = self.git(
            "log", "-1", f"--format=%H{_FIELD}%an{_FIELD}%ae{_FIELD}%aI{_FIELD}%s", rev
        ).stdout
        return _commit(out)

    def show(self, rev: str, relpath: str) -> str | None:
        """The file at ``rev`` (None where it did not exist there)."""
        run = self.git("show", f"{rev}:{relpath}", check=False)
        return run.stdout if run.returncode == 0 else None

    def show_many(self, refs: Sequence[tuple[str, str]]) -> list[str | None]:
        """Files at commits, ``[(rev, path), ...]``, read by one ``git cat-file --batch`` (None: absent there)."""
        if not refs:
            return []
        query = "".join(f"{rev}:{path}\n" for rev, path in refs).encode("utf-8")
        run = subprocess.run(
            ["git", "-C", str(self.root), "cat-file", "--batch"],
            input=query,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            env={**os.environ, "LC_ALL": "C"},
        )
        if run.returncode != 0:
            raise GitError("git cat-file failed", run.stderr.decode("utf-8", "replace")[-2000:])
        out, pos = run.stdout, 0
        texts: list[str | None] = []
        for _ in refs:
            end = out.index(b"\n", pos)
            header = out[pos:end].split(b" ")
            pos = end + 1
            if len(header) != 3 or header[1] != b"blob":
                texts.append(None)  # "<ref> missing" (or not a file)
                continue
            size = int(header[2])
            texts.append(out[pos : pos + size].decode("utf-8", "replace"))
            pos += size + 1
        return texts

    def paths_at_commit(self, rev: str) -> dict[str, str]:
        """``{path: old path}`` for the files a (non-merge) commit changed; a rename keeps the old name."""
        out = self.git(
            "diff-tree", "-r", "--no-commit-id", "-M", "--name-status", "--root", rev
        ).stdout
        changed: dict[str, str] = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                changed[parts[2]] = parts[1]
            elif len(parts) == 2:
                changed[parts[1]] = parts[1]
        return changed

    def dirty_paths(self) -> list[str]:
        """Tracked files with uncommitted changes and untracked case files, relative to the root."""
        out = self.git("status", "--porcelain=v1", "-z", "--untracked-files=all").stdout
        return [entry[3:] for entry in out.split("\0") if len(entry) > 3]

    # -- writing ------------------------------------------------------------------------------------

    def commit_file(self, path: Path, author: Person, message: str) -> str | None:
        """Commit exactly ``path`` (added, changed or deleted) as ``author``; other staged changes stay
        out of the commit. Returns the new commit, or None when the file did not change. Call it
        inside :meth:`writing`."""
        rel = self.relpath(path)
        message = commit_message(message)
        self.git("add", "-A", "--", rel)
        if not self.git("diff", "--cached", "--name-only", "--", rel).stdout.strip():
            return None
        env = {"GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email}
        before = self.head()
        try:
            self.git(
                "commit",
                "--no-verify",
                "-q",
                "-F",
                "-",
                "--only",
                "--",
                rel,
                env=env,
                input_text=message,
            )
        except (GitError, subprocess.TimeoutExpired):
            if self.head() == before:
                raise
            # the commit is made and what came after it failed (a post-commit hook, the timeout)
            log.warning("git commit of %s reported a failure after committing", rel)
        return self.head()


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def commit_message(message: str) -> str:
    """``message`` as git takes it: no NUL or other control character (git refuses a NUL, and
    the file would be left written but not committed), at least one character."""
    return _CONTROL.sub(" ", message).strip() or "Update"


def open_repo(
    folder: Path, committer: Person | None = None, lock_stale_seconds: float = 30.0
) -> Repo | None:
    """The git working copy holding ``folder``, or None when it is not inside one."""
    if not folder.is_dir():
        return None
    run = subprocess.run(
        [
            "git",
            "-C",
            str(folder),
            "rev-parse",
            "--is-inside-work-tree",
            "--show-toplevel",
            "--absolute-git-dir",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C"},
    )
    lines = run.stdout.split("\n")
    if run.returncode != 0 or not lines or lines[0].strip() != "true":
        return None
    repo = Repo(Path(lines[1]), Path(lines[2]), committer or Repo.committer, lock_stale_seconds)
    _exclude_temp_files(repo)
    return repo


def _exclude_temp_files(repo: Repo) -> None:
    """Keep the editor's temporary files out of ``git status`` (``info/exclude``: local to this copy)."""
    exclude = repo.git_dir / "info" / "exclude"
    try:
        current = exclude.read_text("utf-8") if exclude.exists() else ""
        if TEMP_PATTERN not in current.split("\n"):
            exclude.parent.mkdir(parents=True, exist_ok=True)
            with exclude.open("a", encoding="utf-8") as fh:
                fh.write(
                    ("" if current.endswith("\n") or not current else "\n") + TEMP_PATTERN + "\n"
                )
    except OSError:
        pass


def _commit(record: str) -> Commit:
    sha, name, email, when, summary = record.strip("\n").split(_FIELD, 4)
    return Commit(sha.strip(), Person(name, email), datetime.fromisoformat(when), summary)


# -- stale locks ------------------------------------------------------------------------------------


def git_lock_files(repo: Repo) -> list[Path]:
    """Lock files git leaves when it is killed: ``index.lock``, ``HEAD.lock``, ref locks."""
    found = [
        p
        for p in (
            repo.git_dir / "index.lock",
            repo.git_dir / "HEAD.lock",
            repo.git_dir / "packed-refs.lock",
        )
        if p.exists()
    ]
    refs = repo.git_dir / "refs"
    if refs.is_dir():
        found += sorted(refs.rglob("*.lock"))
    return found


def git_running_in(repo: Repo) -> bool:
    """Whether a live git process works in this repository (Linux ``/proc``; elsewhere: assume one may)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    root, git_dir = os.path.realpath(repo.root), os.path.realpath(repo.git_dir)
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (entry / "comm").read_text().strip() not in (
                "git",
                "git-remote-http",
                "git-upload-pack",
                "git-receive-pack",
            ):
                continue
            cwd = os.path.realpath(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if cwd.startswith((root, git_dir)) or any(
            arg.startswith((root, git_dir)) for arg in cmdline
        ):
            return True
    return False


def recover_stale_locks(repo: Repo) -> list[Path]:
    """Remove git's lock files that no git process holds: older than ``lock_stale_seconds`` and no
    live git process in this repository. Returns what was removed (nothing when in doubt)."""
    locks = git_lock_files(repo)
    if not locks:
        return []
    now = time.time()
    old = [p for p in locks if _age(p, now) >= repo.lock_stale_seconds]
    if not old or git_running_in(repo):
        return []
    removed = []
    for lock in old:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
            removed.append(lock)
    return removed


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return -1.0


# -- sync with a remote -----------------------------------------------------------------------------


def has_remote(repo: Repo, remote: str) -> bool:
    return remote in repo.git("remote").stdout.split()


def sync(repo: Repo, remote: str, branch: str = "", cases_dir: Path | None = None) -> SyncResult:
    """Fetch ``remote``'s ``branch``, replay the local commits on it and push.

    A local commit whose change cannot be applied to upstream (upstream changed the same lines of
    the same file) is set aside on ``kb/pending/<case>-<short sha>`` and pushed there: nothing is
    lost. Case files an interrupted save left uncommitted (under ``cases_dir``) are committed
    first. Raises nothing for git trouble: the result says what failed.
    """
    result = SyncResult(synced=False, remote=remote)
    try:
        with repo.writing():
            result.branch = branch = branch or repo.branch_name()
            if cases_dir is not None:
                result.recovered = commit_leftovers(repo, cases_dir)
            if not has_remote(repo, remote):
                result.reason = f"no remote '{remote}'"
                return result
            for _attempt in range(3):
                if _sync_once(repo, remote, branch, result):
                    break
            else:
                result.error = "the remote kept changing during the sync; try again"
                return result
            result.waiting = [
                {
                    "branch": p.branch,
                    "path": p.path,
                    "commit": p.commit.sha,
                    "author": p.commit.author.name,
                }
                for p in pending_edits(repo)
            ]
            result.synced = True
    except (GitError, OSError, subprocess.TimeoutExpired) as exc:
        result.error = str(exc)
    return result


def _sync_once(repo: Repo, remote: str, branch: str, result: SyncResult) -> bool:
    """One fetch-replay-push round; False when the push was refused because upstream moved."""
    tracking = f"refs/remotes/{remote}/{branch}"
    fetched = repo.git(
        "fetch",
        "-q",
        remote,
        f"+refs/heads/{branch}:{tracking}",
        f"+refs/heads/{PENDING_PREFIX}*:refs/remotes/{remote}/{PENDING_PREFIX}*",
        check=False,
    )
    if fetched.returncode != 0:
        if "couldn't find remote ref" not in fetched.stderr:
            raise GitError("git fetch failed", fetched.stderr.strip()[-2000:])
        upstream = None  # an empty remote: the first push creates the branch
    else:
        upstream = repo.git("rev-parse", tracking).stdout.strip()
    local = repo.head()
    if local is None and upstream is None:
        result.reason = "nothing to sync: no commits"
        return True
    base = upstream
    if upstream is not None and local is not None:
        if _is_ancestor(repo, local, upstream):
            result.pulled += _count(repo, f"{local}..{upstream}")
        elif not _is_ancestor(repo, upstream, local):
            result.pulled += _count(repo, f"{local}..{upstream}")
            base = _replay(repo, upstream, _local_commits(repo, upstream, local), result)
        else:
            base = local
    elif upstream is None:
        base = local
    assert base is not None
    if local is not None and base != local:
        repo.git("reset", "-q", "--keep", base)  # refuses to touch a file with uncommitted changes
    elif local is None:
        repo.git("checkout", "-q", "-B", branch, base)  # an unborn branch: start it at upstream
    _push_pending(repo, remote)
    _push_resolved(repo, remote)
    if upstream == base:
        return True
    push = repo.git("push", "-q", remote, f"{base}:refs/heads/{branch}", check=False)
    if push.returncode != 0:
        if (
            "rejected" in push.stderr
            or "fetch first" in push.stderr
            or "non-fast-forward" in push.stderr
        ):
            return False
        raise GitError("git push failed", push.stderr.strip()[-2000:])
    result.pushed = True
    repo.git("update-ref", tracking, base)
    return True


def _is_ancestor(repo: Repo, older: str, newer: str) -> bool:
    return repo.git("merge-base", "--is-ancestor", older, newer, check=False).returncode == 0


def _count(repo: Repo, spec: str) -> int:
    return int(repo.git("rev-list", "--count", spec).stdout.strip() or 0)


def _local_commits(repo: Repo, upstream: str, local: str) -> list[str]:
    return repo.git("rev-list", "--reverse", "--no-merges", f"{upstream}..{local}").stdout.split()


def _replay(repo: Repo, base: str, commits: Sequence[str], result: SyncResult) -> str:
    """Apply each commit's change on ``base`` in turn (a three-way merge per file, in a temporary
    index: the working tree is not touched); a commit that conflicts goes to a side branch."""
    for sha in commits:
        applied = _apply(repo, base, sha)
        if applied is None:
            changed = repo.paths_at_commit(sha)
            path = next(iter(changed), "")
            name = f"{PENDING_PREFIX}{Path(path).stem or 'change'}-{sha[:7]}"
            repo.git("branch", "-f", name, sha)
            result.pending.append({"branch": name, "path": path, "commit": sha})
        elif applied != base:
            base = applied
            result.replayed += 1
    return base


def _apply(repo: Repo, base: str, sha: str) -> str | None:
    """``sha``'s change committed on ``base`` (same author, date and message), ``base`` itself when
    the change is already there, or None on a conflict."""
    parent = repo.git("rev-parse", "--verify", "-q", f"{sha}^", check=False).stdout.strip() or None
    with tempfile.TemporaryDirectory(prefix="kb-sync-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        repo.git("read-tree", base, env=env)
        for path, old_path in repo.paths_at_commit(sha).items():
            ours = _blob(repo, base, path)
            before = _blob(repo, parent, old_path) if parent else None
            theirs = _blob(repo, sha, path)
            if ours == theirs:
                continue
            if ours == before:
                merged_blob = theirs
            elif ours is None or before is None or theirs is None:
                return None  # deleted on one side, changed on the other
            else:
                merged_blob = _merge_blobs(repo, ours, before, theirs, Path(tmp))
                if merged_blob is None:
                    return None
            if old_path != path:
                repo.git("update-index", "--force-remove", "--", old_path, env=env)
            if merged_blob is None:
                repo.git("update-index", "--force-remove", "--", path, env=env)
            else:
                repo.git(
                    "update-index", "--add", "--cacheinfo", f"100644,{merged_blob},{path}", env=env
                )
        tree = repo.git("write-tree", env=env).stdout.strip()
    if tree == repo.git("rev-parse", f"{base}^{{tree}}").stdout.strip():
        return base
    info = repo.git("log", "-1", f"--format=%an{_FIELD}%ae{_FIELD}%aI{_FIELD}%B", sha).stdout
    name, email, when, message = info.split(_FIELD, 3)
    author = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": when}
    return repo.git(
        "commit-tree", tree, "-p", base, "-F", "-", env=author, input_text=message
    ).stdout.strip()


def _blob(repo: Repo, rev: str | None, path: str) -> str | None:
    if rev is None:
        return None
    run = repo.git("rev-parse", "--verify", "-q", f"{rev}:{path}", check=False)
    return run.stdout.strip() or None


def _merge_blobs(repo: Repo, ours: str, base: str, theirs: str, tmp: Path) -> str | None:
    """A clean three-way merge of three blobs, written as a blob; None where the same lines changed."""
    files = []
    for name, blob in (("ours", ours), ("base", base), ("theirs", theirs)):
        target = tmp / name
        target.write_bytes(
            subprocess.run(
                ["git", "-C", str(repo.root), "cat-file", "blob", blob],
                capture_output=True,
                check=True,
            ).stdout
        )
        files.append(str(target))
    merged = repo.git("merge-file", "-p", *files, check=False)
    if merged.returncode != 0:
        return None
    return repo.git("hash-object", "-w", "--stdin", input_text=merged.stdout).stdout.strip()


def _push_pending(repo: Repo, remote: str) -> None:
    branches = [p.branch for p in pending_edits(repo)]
    if branches:
        repo.git("push", "-q", remote, *[f"refs/heads/{b}:refs/heads/{b}" for b in branches])


def _push_resolved(repo: Repo, remote: str) -> None:
    """Share the edits marked merged: push ``kb/resolved/*`` and delete their ``kb/pending/*`` upstream."""
    resolved = repo.git(
        "for-each-ref", "--format=%(refname:short)", f"refs/heads/{RESOLVED_PREFIX}"
    ).stdout.split()
    if not resolved:
        return
    specs = [f"refs/heads/{b}:refs/heads/{b}" for b in resolved]
    for branch in resolved:
        pending = PENDING_PREFIX + branch.removeprefix(RESOLVED_PREFIX)
        tracking = f"refs/remotes/{remote}/{pending}"
        if repo.git("rev-parse", "--verify", "-q", tracking, check=False).returncode == 0:
            specs.append(f":refs/heads/{pending}")
    repo.git("push", "-q", remote, *specs)
    for spec in specs:
        if spec.startswith(":"):
            repo.git(
                "update-ref", "-d", f"refs/remotes/{remote}/{spec.removeprefix(':refs/heads/')}"
            )


def resolve_pending(repo: Repo, branch: str) -> str:
    """Mark an edit waiting for a merge as merged by hand: its side branch becomes ``kb/resolved/…``
    (the commit is kept, locally and, at the next sync, on the remote) and it no longer waits.
    Raises :class:`GitError` for a branch that is not a pending edit."""
    if not branch.startswith(PENDING_PREFIX) or ".." in branch or branch.endswith(".lock"):
        raise GitError(f"not an edit waiting for a merge: {branch[:120]}")
    with repo.writing():
        sha = repo.git(
            "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False
        ).stdout.strip()
        if not sha:
            raise GitError(f"no edit waits on {branch[:120]}")
        resolved = RESOLVED_PREFIX + branch.removeprefix(PENDING_PREFIX)
        repo.git("update-ref", f"refs/heads/{resolved}", sha)
        repo.git("update-ref", "-d", f"refs/heads/{branch}", sha)
    return resolved


def commit_leftovers(repo: Repo, cases_dir: Path, author: Person | None = None) -> list[str]:
    """Commit case files (``*.md`` under ``cases_dir``) that an interrupted save left changed but
    uncommitted, one commit each; returns their paths."""
    try:
        prefix = repo.relpath(cases_dir)
    except ValueError:
        return []
    prefix = "" if prefix == "." else prefix.rstrip("/") + "/"
    done = []
    for rel in repo.dirty_paths():
        name = rel.rsplit("/", 1)[-1]
        if rel.startswith(prefix) and rel.endswith(".md") and not name.startswith("."):
            sha = repo.commit_file(
                repo.root / rel,
                author or repo.committer,
                f"Commit {Path(rel).stem}: a change an interrupted save left uncommitted",
            )
            if sha:
                done.append(rel)
    return done


def pending_edits(repo: Repo, relpath: str | None = None) -> list[PendingEdit]:
    """The side branches holding edits that wait for a merge (for one file when ``relpath`` is given);
    a branch whose change is already on the current branch is not listed."""
    out = repo.git(
        "for-each-ref", "--format=%(refname:short)", f"refs/heads/{PENDING_PREFIX}"
    ).stdout.split()
    found = []
    head = repo.head()
    for branch in out:
        sha = repo.git("rev-parse", branch).stdout.strip()
        if head is not None and _is_ancestor(repo, sha, head):
            continue
        for path in repo.paths_at_commit(sha):
            if relpath is None or path == relpath:
                if head is not None and _blob(repo, head, path) == _blob(repo, sha, path):
                    continue  # merged by hand since
                found.append(PendingEdit(branch, repo.commit_info(sha), path))
                break
    return found
