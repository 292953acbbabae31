"""The history of a case: its versions, a diff between two, restore, edits waiting for a merge
(thin: find the visible case, call :mod:`kb.history`, render). JSON at ``/api/v1/cases/<id>/history``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from indexer.jobs import run_index
from kb import history, review
from kb import repo as kb_repo
from kb.case import Case
from kb.errors import KBError, NotFoundError, ReindexBusyError
from kb.history import CaseDiff, History
from kb.repo import GitError, Repo
from kb.roles import can_edit, review_state, visibilities_for
from webui import access, service
from webui.security import t

bp = Blueprint("history", __name__)
api_bp = Blueprint("history_api", __name__)
log = logging.getLogger(__name__)
INDEX_WAIT_CONFIG = "KB_EDITOR_INDEX_WAIT"

kb = access.current_kb


@dataclass
class HistoryPage:
    """What the history page and its JSON show: the case, its visible versions, and a diff."""

    case: Case
    history: History
    old: str = ""  # the compared versions: commit ids, or "pending:<branch>" / "current"
    new: str = ""
    diff: CaseDiff | None = None


def _open(case_id: str, role: str) -> tuple[Case, Path, Repo | None, history.History]:
    case = service.visible_case(kb(), case_id, role)  # 404 for a case the role may not read
    repo = history.repo_for(kb().settings)
    path = history.case_path(kb().settings, case)
    found = history.case_history(repo, path, case, role)
    if not can_edit(role):
        found.pending = []  # "waiting for merge" is for the engineers who can merge it
    return case, path, repo, found


def _text(repo: Repo, path: Path, found: history.History, ref: str) -> str:
    if ref.startswith("pending:"):
        return history.pending_text(repo, found, ref.removeprefix("pending:"))
    if ref == "current":
        return path.read_text("utf-8") if path.exists() else ""
    return history.version_text(repo, path, found, ref)


def history_page(
    case_id: str, role: str, old: str | None, new: str | None, pending: str | None
) -> HistoryPage:
    """The page for ``case_id``: by default the newest version against the one before it; with
    ``pending`` the waiting edit against the current file."""
    case, path, repo, found = _open(case_id, role)
    page = HistoryPage(case, found)
    if repo is None or not found.versions:
        return page
    if pending:
        old, new = "current", f"pending:{pending}"
    else:
        new = new or found.versions[0].commit.sha
        old = old or (found.versions[1].commit.sha if len(found.versions) > 1 else new)
    page.old, page.new = old, new
    page.diff = history.diff_texts(_text(repo, path, found, old), _text(repo, path, found, new))
    return page


@bp.get("/cases/<case_id>/history")
def case_history(case_id: str) -> str:
    """Every version the caller may see, and the diff between two (``a`` older, ``b`` newer)."""
    role = access.current_role()
    page = history_page(
        case_id,
        role,
        request.args.get("a") or None,
        request.args.get("b") or None,
        request.args.get("pending") or None,
    )
    if page.case.visibility == "restricted":
        access.record("view_restricted", page.case.id, {"via": "history"})
    return render_template(
        "history.html",
        page=page,
        case=page.case,
        versions=page.history.versions,
        can_edit=can_edit(role),
        short=_short,
    )


def _short(ref: str) -> str:
    """A compared version as the diff's title names it: a short commit id, or ``current`` / ``pending:<branch>``."""
    return ref if ref == "current" or ref.startswith("pending:") else ref[:10]


@bp.post("/cases/<case_id>/history/restore")
def restore(case_id: str) -> Response:
    """Restore a version: its text becomes the case file again, in a new commit; then reindex."""
    role = access.require_editor()
    case, path, repo, found = _open(case_id, role)
    if repo is None:
        raise NotFoundError(
            "the cases folder is not a git working copy: there is no history to restore"
        )
    identity = access.current_identity()
    author = history.author_for(identity.name if identity else "unknown", kb().settings)
    version = request.form.get("version", "")
    sha = history.restore_version(
        repo, path, found, version, author, request.form.get("summary", "")
    )
    access.record("case_restore", case.id, {"version": version[:40], "commit": sha or ""})
    if sha is None:
        flash(t("history.restore_same", id=case.id))
    else:
        flash(t("history.restored", id=case.id, sha=version[:10]))
        reindex(float(current_app.config.get(INDEX_WAIT_CONFIG, 3.0)))
    return redirect(url_for("web.case", case_id=case.id), code=303)


def reindex(wait: float) -> str:
    """Make the restored text searchable: now, or after a running reindex (in the background)."""
    settings = kb().settings
    try:
        run_index(settings, wait=wait)
        return "done"
    except ReindexBusyError:
        threading.Thread(
            target=_index_later, args=(settings,), daemon=True, name="kb-index-after-restore"
        ).start()
        return "busy"
    except Exception:  # the commit is made whatever happens here
        log.exception("restored a version but the reindex failed")
        return "failed"


def _index_later(settings: Any) -> None:
    try:
        run_index(settings, wait=3600)
    except Exception:
        log.exception("could not index after a restore; the next reindex will")


@bp.post("/cases/<case_id>/history/resolve")
def resolve_pending(case_id: str) -> Response:
    """Mark an edit waiting for a merge as merged by hand (its commit is kept on ``kb/resolved/…``)."""
    role = access.require_editor()
    case, path, repo, found = _open(case_id, role)
    branch = request.form.get("branch", "")
    if repo is None or branch not in {p.branch for p in found.pending}:
        raise NotFoundError(f"no edit of {case.id} waits on '{branch[:80]}'")
    resolved = kb_repo.resolve_pending(repo, branch)
    access.record("case_merge_resolved", case.id, {"branch": branch, "kept_on": resolved})
    flash(t("history.pending.resolved", branch=branch, resolved=resolved))
    return redirect(url_for("history.case_history", case_id=case.id), code=303)


@bp.post("/cases/<case_id>/review")
def mark_reviewed(case_id: str) -> Response:
    """Mark a draft reviewed (an engineer who did not write it, or an admin): a commit and an audit entry."""
    role = access.require_editor()
    case = service.visible_case(kb(), case_id, role)
    identity = access.current_identity()
    actor = history.author_for(identity.name if identity else "unknown", kb().settings)
    path = history.case_path(kb().settings, case)
    done = review.mark_reviewed(path, case, actor, role, history.repo_for(kb().settings))
    access.record("case_review", case.id, {"commit": done.commit or ""})
    flash(t("review.marked", id=case.id))
    reindex(float(current_app.config.get(INDEX_WAIT_CONFIG, 3.0)))
    return redirect(url_for("web.case", case_id=case.id), code=303)


@api_bp.get("/cases/<case_id>/history")
def api_history(case_id: str) -> dict[str, Any]:
    """The versions as JSON; ``a`` and ``b`` (or ``pending``) add their diff."""
    role = access.current_role()
    wants_diff = any(request.args.get(k) for k in ("a", "b", "pending"))
    page = history_page(
        case_id,
        role,
        request.args.get("a") or None,
        request.args.get("b") or None,
        request.args.get("pending") or None,
    )
    body: dict[str, Any] = {"ok": True, **page.history.to_dict()}
    if wants_diff and page.diff is not None:
        body["diff"] = {"a": page.old, "b": page.new, **page.diff.to_dict()}
    return body


@bp.app_context_processor
def _template_helpers() -> dict[str, Callable[..., Any]]:
    """In templates: ``pending_edits_for(case)`` (edits waiting for a merge, for editors),
    ``review_of(case)`` and ``old_drafts()``."""

    def pending_for(case: Case) -> list[Any]:
        if not can_edit(access.current_role()):
            return []
        try:
            repo = history.repo_for(kb().settings)
            if repo is None:
                return []
            return history.visible_pending(
                repo, history.case_path(kb().settings, case), case, access.current_role()
            )
        except (GitError, KBError, OSError, ValueError):
            log.exception("could not list the edits waiting for a merge")
            return []

    def review_of(case: Case) -> dict[str, bool]:
        """Whether the case is a draft, and whether the caller may mark it reviewed (the button is
        shown to editors; who exactly may is checked when it is pressed)."""
        draft = review_state(case) == "draft"
        return {"draft": draft, "may_mark": draft and can_edit(access.current_role())}

    def old_drafts() -> list[review.DraftRow]:
        """Drafts waiting for a review for more than a week that the caller may see (the stats page)."""
        return review.stored_old_drafts(
            kb().store, date.today(), visibilities_for(access.current_role())
        )

    return {"pending_edits_for": pending_for, "review_of": review_of, "old_drafts": old_drafts}
