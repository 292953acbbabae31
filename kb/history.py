"""The history of a case: its versions (commits of its file), a diff between two of them section by
section, restoring one (a new commit), and the edits waiting for a merge.

Who sees what: a version is shown to a role only when the role may read the case now *and* may
read it as that version was (its visibility and review state then). A case whose visibility was
raised therefore never shows its old text to the roles that lost access, and a case whose
visibility was lowered does not reveal what it said while it was restricted. The rule is
:func:`version_readable`; the levels come from :mod:`kb.roles`.

Diffs are pure functions of two texts (:func:`diff_texts`): front-matter fields key by key, then
each section (matched by canonical name) as runs of equal, deleted and inserted text. Lines are
matched first; inside a changed block Japanese (and other CJK) text is compared character by
character and everything else word by word, so a one-character fix in a Japanese paragraph shows
as that character, not as the whole line.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kb.case import VISIBILITIES, Case
from kb.errors import GitError, NotFoundError, QueryError, SaveFailedError
from kb.parse import split_sections
from kb.repo import Commit, PendingEdit, Person, Repo, open_repo, pending_edits, sync
from kb.roles import can_read_state
from kb.settings import Settings

log = logging.getLogger(__name__)
SUMMARY_CHARS = 200
MAX_VERSIONS = 500
_SHA = re.compile(r"[0-9a-f]{7,40}")
_TOKEN = re.compile(
    r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]|[^\W\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+|\s+|[^\w\s]",
    re.U,
)
_EMAIL_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


# -- who writes -------------------------------------------------------------------------------------


def repo_for(settings: Settings) -> Repo | None:
    """The git working copy of the cases folder, or None when it is not one."""
    return open_repo(
        settings.cases_dir,
        Person(settings.git_committer_name, settings.git_committer_email),
        settings.git_lock_stale_seconds,
    )


def author_for(name: str, settings: Settings) -> Person:
    """The commit author for an account: its name, and an e-mail made from ``git_author_email``
    (accounts have no e-mail address: ``{name}`` is the account name made safe for an address)."""
    local = _EMAIL_UNSAFE.sub("-", name).strip("-.") or "user"
    return Person(name or "unknown", settings.git_author_email.replace("{name}", local))


def commit_message(summary: str, default: str) -> str:
    """The commit message: the author's one-line summary (trimmed), else ``default``."""
    line = " ".join(summary.split())[:SUMMARY_CHARS]
    return line or default


def default_summary(case_id: str, old_text: str | None, new_text: str) -> str:
    """``Update ESC-…: <sections and fields changed>`` (``Create ESC-…`` for a new case)."""
    if old_text is None:
        return f"Create {case_id}"
    diff = diff_texts(old_text, new_text)
    names = [s.name for s in diff.sections if s.change != "same"] + [f.name for f in diff.fields]
    return f"Update {case_id}: {', '.join(names) if names else 'no change'}"[:SUMMARY_CHARS]


@contextlib.contextmanager
def writing(repo: Repo | None) -> Iterator[None]:
    """Around a save: the repository's write lock (nothing when the cases folder is no working copy)."""
    if repo is None:
        yield
        return
    with repo.writing():
        yield


def read_bytes(path: Path) -> bytes | None:
    """A case file's bytes before a save (None when there is none yet): what a failed save puts back."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def undone_on_failure(repo: Repo | None, path: Path | None) -> Iterator[Callable[[Path], None]]:
    """Around writing one case file and committing it, inside :func:`writing`: when the write or the
    commit fails (git refuses or times out, the disk is full), the file is put back as it was before
    the block — a new file removed — and its staged change dropped, then :class:`SaveFailedError`
    says so. The working copy never keeps a save its history lacks, and the editor can save again.

    ``path`` is the file (None for a new case, whose name is known only once written: pass it to the
    function the block receives)."""
    before = read_bytes(path) if path is not None else None
    written: list[Path] = [path] if path is not None else []
    head = repo.head() if repo is not None else None
    try:
        yield written.append
    except (GitError, OSError, subprocess.TimeoutExpired) as exc:
        if repo is not None and repo.head() != head:  # the commit landed: nothing to undo
            log.error(
                "saving failed after its commit %s; the file is left as committed", repo.head()
            )
            raise
        name = written[-1].name if written else "the new case"
        detail = getattr(exc, "output", "") or str(exc)
        log.error("saving %s failed, the file was put back: %s", name, detail)
        if written:
            put_back(repo, written[-1], before, head)
        raise SaveFailedError(
            f"{name} was not saved: it could not be written and recorded in the case history; "
            "nothing was changed, try again",
            detail,
        ) from exc


def put_back(repo: Repo | None, path: Path, before: bytes | None, head: str | None) -> None:
    """``path`` as it was (``before``; None: no file) and its index entry as in ``head`` (the
    commit before the save; None: none yet). Best effort: what cannot be undone is logged, never
    raised over the error that made it necessary."""
    try:
        if before is None:
            path.unlink(missing_ok=True)
        elif read_bytes(path) != before:
            write_atomic(path, before)
    except OSError:
        log.exception("could not put %s back", path)
    if repo is None:
        return
    try:
        rel = repo.relpath(path)
        if head is None:  # nothing committed yet: the save's staged file is the only entry
            repo.git("rm", "--cached", "-q", "--ignore-unmatch", "--", rel)
        else:  # the entry as committed; a deletion made on disk before stays unstaged
            repo.git("reset", "-q", "--", rel)
    except (GitError, OSError, subprocess.TimeoutExpired, ValueError):
        log.exception("could not drop the staged change of %s", path)


def read_text(path: Path) -> str | None:
    """A case file's text before a save (None when there is none yet)."""
    try:
        return path.read_text("utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def commit_save(
    repo: Repo | None,
    path: Path,
    case_id: str,
    old_text: str | None,
    author: Person | None,
    summary: str = "",
) -> str | None:
    """Commit a saved case file as its author, inside :func:`writing` (the message: the author's
    summary, else :func:`default_summary`). None when there is no repository or nothing changed."""
    if repo is None:
        return None
    new_text = read_text(path) or ""
    message = commit_message(summary, default_summary(case_id, old_text, new_text))
    return repo.commit_file(path, author or repo.committer, message)


def sync_in_background(settings: Settings) -> threading.Thread:
    """``kb sync`` in a thread (after a save, when ``git_sync_after_save`` is on); the result goes to the log."""

    def run() -> None:
        repo = repo_for(settings)
        if repo is not None:
            result = sync(
                repo, settings.git_remote, settings.git_branch, cases_dir=settings.cases_dir
            )
            log.info("sync after save: %s", result.to_dict())

    thread = threading.Thread(target=run, name="kb-sync-after-save", daemon=True)
    thread.start()
    return thread


# -- versions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    """One version of a case file: the commit and what the case was then."""

    commit: Commit
    visibility: str
    review: str | None
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha": self.commit.sha,
            "short": self.commit.short,
            "author": self.commit.author.name,
            "email": self.commit.author.email,
            "date": self.commit.date.isoformat(),
            "summary": self.commit.summary,
            "visibility": self.visibility,
            "review": self.review,
        }


@dataclass
class History:
    """The versions of one case that a role may see, newest first."""

    case_id: str
    available: bool  # False: the cases folder is no git working copy
    versions: list[Version] = field(default_factory=list)
    hidden: int = 0  # versions this role may not see (raised visibility, or restricted then)
    pending: list[PendingEdit] = field(default_factory=list)

    def find(self, sha: str) -> Version:
        """The visible version whose commit starts with ``sha``; :class:`NotFoundError` otherwise."""
        if not _SHA.fullmatch(sha or ""):
            raise QueryError("not a version (expected a commit id)", "version")
        for version in self.versions:
            if version.commit.sha.startswith(sha):
                return version
        raise NotFoundError(f"no version '{sha[:40]}' of {self.case_id}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "available": self.available,
            "hidden": self.hidden,
            "versions": [v.to_dict() for v in self.versions],
            "pending": [
                {
                    "branch": p.branch,
                    "sha": p.commit.sha,
                    "author": p.commit.author.name,
                    "date": p.commit.date.isoformat(),
                    "summary": p.commit.summary,
                }
                for p in self.pending
            ],
        }


def version_readable(
    role: str, current: tuple[str, str | None], then: tuple[str, str | None]
) -> bool:
    """Whether ``role`` may see a version: it reads the case now and as it was then
    (each a (visibility, review state) pair)."""
    return can_read_state(role, *current) and can_read_state(role, *then)


def front_matter(text: str) -> dict[str, Any]:
    """The YAML front matter of a case text, tolerantly ({} when there is none or it is broken)."""
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    try:
        data = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def level_of(text: str | None) -> tuple[str, str | None]:
    """(visibility, review) of a case text; a text whose visibility cannot be read counts as restricted."""
    data = front_matter(text or "")
    visibility = data.get("visibility")
    review = data.get("review")
    return (
        visibility if visibility in VISIBILITIES else VISIBILITIES[-1],
        review if isinstance(review, str) else None,
    )


def case_path(settings: Settings, case: Case) -> Path:
    """The file of a stored case."""
    return settings.cases_dir / case.path if case.path else settings.cases_dir / f"{case.id}.md"


def case_history(
    repo: Repo | None, path: Path, case: Case, role: str, limit: int = MAX_VERSIONS
) -> History:
    """The versions of ``case`` (whose file is ``path``) that ``role`` may see, and the edits waiting
    for a merge (for editors; the caller has checked that ``role`` may read the case)."""
    if repo is None:
        return History(case.id, False)
    rel = repo.relpath(path)
    current = _current_level(case)
    history = History(case.id, True)
    commits = repo.log(rel, limit=limit)
    texts = repo.show_many([(c.sha, rel) for c in commits])  # one git process for every version
    for commit, text in zip(commits, texts):
        if text is None:  # renamed since: the name it had then
            text = _text_at(repo, commit.sha, rel)
        then = level_of(text) if text is not None else current
        version = Version(commit, then[0], then[1], deleted=text is None)
        if version_readable(role, current, then):
            history.versions.append(version)
        else:
            history.hidden += 1
    history.pending = visible_pending(repo, path, case, role)
    return history


def _current_level(case: Case) -> tuple[str, str | None]:
    review = getattr(case, "review", None) or case.meta.get("review")
    return case.visibility, review if isinstance(review, str) else None


def visible_pending(repo: Repo, path: Path, case: Case, role: str) -> list[PendingEdit]:
    """The edits of ``case`` waiting for a merge whose text ``role`` may see."""
    current = _current_level(case)
    return [
        p
        for p in pending_edits(repo, repo.relpath(path))
        if version_readable(role, current, level_of(repo.show(p.commit.sha, p.path)))
    ]


def _text_at(repo: Repo, sha: str, rel: str) -> str | None:
    text = repo.show(sha, rel)
    if text is None:  # renamed later: the path the file had at that commit
        for path, old in repo.paths_at_commit(sha).items():
            if old == rel or path == rel:
                text = repo.show(sha, path)
                break
    return text


def version_text(repo: Repo, path: Path, history: History, sha: str) -> str:
    """The text of a visible version (``NotFoundError`` for one the role may not see)."""
    version = history.find(sha)
    text = _text_at(repo, version.commit.sha, repo.relpath(path))
    if text is None:
        raise NotFoundError(f"{history.case_id} did not exist at {sha[:12]}")
    return text


def pending_text(repo: Repo, history: History, branch: str) -> str:
    """The text of an edit waiting for a merge that the role may see."""
    for edit in history.pending:
        if edit.branch == branch:
            return repo.show(edit.commit.sha, edit.path) or ""
    raise NotFoundError(f"no edit of {history.case_id} waits on '{branch[:80]}'")


def restore_version(
    repo: Repo, path: Path, history: History, sha: str, author: Person, summary: str = ""
) -> str | None:
    """Write a visible version back as the case file and commit it (a new commit, history kept).
    Returns the new commit (None when the file already is that version)."""
    text = version_text(repo, path, history, sha)
    version = history.find(sha)
    message = commit_message(
        summary,
        f"Restore {history.case_id}: version {version.commit.short} "
        f"of {version.commit.date.date().isoformat()} by {version.commit.author.name}",
    )
    with repo.writing(), undone_on_failure(repo, path):
        write_atomic(path, text)
        return repo.commit_file(path, author, message)


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``path`` through a temporary file: fsync, rename, fsync the folder (never half a file)."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """fsync a folder so a rename in it survives a crash."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- diffs --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A stretch of text that is the same in both versions, or only in the old (``delete``) or new (``insert``)."""

    op: str
    text: str


@dataclass(frozen=True)
class SectionDiff:
    name: str
    heading: str
    change: str  # same | changed | added | removed
    runs: tuple[Run, ...]


@dataclass(frozen=True)
class FieldChange:
    name: str
    old: str
    new: str


@dataclass(frozen=True)
class CaseDiff:
    fields: tuple[FieldChange, ...]
    sections: tuple[SectionDiff, ...]

    @property
    def changed(self) -> bool:
        return bool(self.fields) or any(s.change != "same" for s in self.sections)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": [{"name": f.name, "old": f.old, "new": f.new} for f in self.fields],
            "sections": [
                {
                    "name": s.name,
                    "heading": s.heading,
                    "change": s.change,
                    "runs": [[r.op, r.text] for r in s.runs],
                }
                for s in self.sections
            ],
        }


def tokens(text: str) -> list[str]:
    """Diff units: each CJK character alone, words, runs of white space, each punctuation mark."""
    return _TOKEN.findall(text)


def diff_runs(old: str, new: str) -> tuple[Run, ...]:
    """``old`` -> ``new`` as runs: lines matched first, then tokens (:func:`tokens`) inside changed lines."""
    runs: list[Run] = []
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            _add(runs, "equal", "".join(a[i1:i2]))
        elif op == "delete":
            _add(runs, "delete", "".join(a[i1:i2]))
        elif op == "insert":
            _add(runs, "insert", "".join(b[j1:j2]))
        else:
            ta, tb = tokens("".join(a[i1:i2])), tokens("".join(b[j1:j2]))
            for sub, k1, k2, m1, m2 in difflib.SequenceMatcher(
                None, ta, tb, autojunk=False
            ).get_opcodes():
                if sub == "equal":
                    _add(runs, "equal", "".join(ta[k1:k2]))
                else:
                    _add(runs, "delete", "".join(ta[k1:k2]))
                    _add(runs, "insert", "".join(tb[m1:m2]))
    return tuple(runs)


def _add(runs: list[Run], op: str, text: str) -> None:
    if not text:
        return
    if runs and runs[-1].op == op:
        runs[-1] = Run(op, runs[-1].text + text)
    else:
        runs.append(Run(op, text))


def _sections(text: str) -> dict[str, tuple[str, str]]:
    """{key: (heading, text)} of a case text's sections (unknown headings keyed by heading)."""
    found: dict[str, tuple[str, str]] = {}
    for section in split_sections(text, "<version>").sections:
        key = section.name if section.name != "other" else f"other:{section.heading}"
        found.setdefault(key, (section.heading, section.text))
    return found


def _field_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def diff_texts(old: str, new: str) -> CaseDiff:
    """The difference between two versions of a case file: changed fields, then every section."""
    fa, fb = front_matter(old), front_matter(new)
    fields = tuple(
        FieldChange(str(k), _field_text(fa.get(k)), _field_text(fb.get(k)))
        for k in list(dict.fromkeys([*fb, *fa]))
        if _field_text(fa.get(k)) != _field_text(fb.get(k))
    )
    sa, sb = _sections(old), _sections(new)
    sections = []
    for key in dict.fromkeys([*sb, *sa]):
        name = key.split(":", 1)[0]
        if key not in sa:
            heading, text = sb[key]
            sections.append(SectionDiff(name, heading, "added", (Run("insert", text),)))
        elif key not in sb:
            heading, text = sa[key]
            sections.append(SectionDiff(name, heading, "removed", (Run("delete", text),)))
        else:
            runs = diff_runs(sa[key][1], sb[key][1])
            same = all(r.op == "equal" for r in runs) and sa[key][0] == sb[key][0]
            sections.append(SectionDiff(name, sb[key][0], "same" if same else "changed", runs))
    return CaseDiff(fields, tuple(sections))
