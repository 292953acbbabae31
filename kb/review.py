"""The review state of a case (KCS): ``review: draft`` until a second engineer or an admin marks it
``reviewed``. While it is a draft a case is read at the engineering level at least
(:func:`kb.roles.effective_visibility`, applied when the case is parsed, so the store, the index
and every page agree). Marking it reviewed rewrites that one front-matter line, commits it (where
the cases folder is a git working copy) and is audited by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from kb import history
from kb.case import Case
from kb.errors import ConflictError, InvalidInputError
from kb.repo import Person, Repo
from kb.roles import can_edit, review_state

if TYPE_CHECKING:
    from kb.store import Store

DRAFT_AGE = timedelta(days=7)
_REVIEW_LINE = re.compile(r"^review:[ \t]*['\"]?draft['\"]?[ \t]*$", re.M)


def kept_review(before: str | None, wanted: str) -> str:
    """The review state an editor save may write: a draft stays a draft (only :func:`mark_reviewed`
    ends it); otherwise what the form says."""
    return "draft" if before == "draft" else wanted


def draft_authors(case: Case, repo: Repo | None, relpath: str | None) -> set[str]:
    """Who wrote the draft: its ``authors`` and the git authors of its versions since it became a draft."""
    names = {a.strip().lower() for a in case.authors if a.strip()}
    if repo is not None and relpath is not None:
        for commit in repo.log(relpath, limit=200):
            text = repo.show(commit.sha, relpath) or ""
            if not _REVIEW_LINE.search(text.split("\n---", 1)[0]):
                break  # the version before it became a draft
            names.add(commit.author.name.strip().lower())
    return names


def may_review(case: Case, actor: str, role: str, authors: Iterable[str]) -> bool:
    """Whether ``actor`` may mark ``case`` reviewed: an admin, or an engineer who did not write it."""
    if review_state(case) != "draft" or not can_edit(role):
        return False
    return role == "admin" or actor.strip().lower() not in set(authors)


def reviewed_text(text: str) -> str:
    """The case text with ``review: draft`` turned into ``review: reviewed`` (front matter only)."""
    head, sep, body = text.partition("\n---")
    changed, count = _REVIEW_LINE.subn("review: reviewed", head, count=1)
    if not count:
        raise ConflictError("the case is not a draft (any more)")
    return changed + sep + body


@dataclass(frozen=True)
class Reviewed:
    case_id: str
    commit: str | None


def mark_reviewed(path: Path, case: Case, actor: Person, role: str, repo: Repo | None) -> Reviewed:
    """Mark a draft reviewed as ``actor``: check who may, rewrite the file atomically, commit it.
    Raises :class:`InvalidInputError` when ``actor`` may not (its author), :class:`ConflictError`
    when the file is no draft (any more)."""
    relpath = repo.relpath(path) if repo is not None else None
    if not may_review(case, actor.name, role, draft_authors(case, repo, relpath)):
        raise InvalidInputError(
            "a draft is marked reviewed by an engineer who did not write it, or by an admin",
            "review",
        )
    with history.writing(repo):
        text = path.read_text("utf-8")
        with history.undone_on_failure(repo, path):
            history.write_atomic(path, reviewed_text(text))
            sha = history.commit_save(
                repo,
                path,
                case.id,
                text,
                actor,
                f"Review {case.id}: marked reviewed by {actor.name}",
            )
    return Reviewed(case.id, sha)


def old_drafts(cases: Iterable[Case], today: date, age: timedelta = DRAFT_AGE) -> list[Case]:
    """Drafts created more than ``age`` ago, oldest first (the stats page lists them)."""
    found = [c for c in cases if review_state(c) == "draft" and c.created <= today - age]
    return sorted(found, key=lambda c: (c.created, c.id))


@dataclass(frozen=True)
class DraftRow:
    id: str
    title: str
    created: date
    authors: tuple[str, ...]


def stored_old_drafts(
    store: Store, today: date, visibilities: Iterable[str], age: timedelta = DRAFT_AGE
) -> list[DraftRow]:
    """The drafts in the store created more than ``age`` ago that a reader of ``visibilities`` may
    see, oldest first. A draft is never read at the support level, so only the other levels are looked at."""
    from sqlalchemy import select

    from kb.store import CaseRow

    levels = [v for v in visibilities if v != "support"]
    if not levels:
        return []
    query = select(CaseRow.id, CaseRow.title, CaseRow.created, CaseRow.authors, CaseRow.meta).where(
        CaseRow.visibility.in_(levels), CaseRow.created <= today - age
    )
    with store.session() as session:
        rows = [
            DraftRow(r.id, r.title, r.created, tuple(r.authors or ()))
            for r in session.execute(query)
            if (r.meta or {}).get("review") == "draft"
        ]
    return sorted(rows, key=lambda r: (r.created, r.id))
