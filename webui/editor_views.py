"""The case editor pages: new case, edit case (thin: parse the form, call :mod:`webui.editor`, render).

Every page works without JavaScript: the form's buttons (check and preview, redact, mark as
related, save) post it back and the page is rendered again with the draft kept.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from kb import drafts, history
from kb import phrasings as kb_phrasings
from kb.case import ORIGINS, SEVERITIES, STATUSES
from kb.errors import ConflictError, IdUnavailableError, SaveFailedError
from kb.render import section_label
from kb.review import kept_review
from kb.roles import visibilities_for
from webui import access, editor
from webui.security import t, ui_lang

bp = Blueprint("editor", __name__)
log = logging.getLogger(__name__)
INDEX_WAIT_CONFIG = (
    "KB_EDITOR_INDEX_WAIT"  # seconds a save waits for a running reindex before saying "later"
)
TITLE_CHARS = 200
NO_GIT_NOTED = (
    "kb_no_git_noted"  # session key: the editor said the cases folder is no git working copy
)


kb = access.current_kb


@bp.route("/new", methods=["GET", "POST"])
def new_case() -> str | Response | tuple[str, int]:
    """A new case: pre-filled with today, the git author, ``?title=`` and ``?signature=`` (a log signature's
    scrubbed lines and facts); its id is given when it is saved."""
    role = access.require_editor()
    if request.method == "GET":
        identity = access.current_identity()
        draft = editor.new_draft(
            kb(),
            request.args.get("title", "")[:TITLE_CHARS],
            date.today(),
            ui_lang(),
            role,
            # a person signed in; in local mode the git author of the cases folder
            author=identity.name if identity is not None and identity.via != "local" else "",
        )
        if request.args.get(
            "signature"
        ):  # "start a case" from a signature page: its logs and what is known
            draft = editor.signature_draft(kb(), draft, request.args["signature"], role, ui_lang())
        return _render(editor.check_draft(kb(), draft, role, ui_lang(), lint=False), role)
    return _submit(editor.Draft.from_form(request.form), role, None, None)  # a posted id is ignored


@bp.route("/cases/<case_id>/edit", methods=["GET", "POST"])
def edit_case(case_id: str) -> str | Response | tuple[str, int]:
    """An existing case, read from its file; saving is refused if the file changed meanwhile."""
    role = access.require_editor()
    target = editor.open_case(kb(), case_id, role)
    if request.method == "GET":
        draft = target.draft
        accepted = kb_phrasings.accepted_text(
            kb().store, target.case_id, request.args.get("phrasing", ""), role
        )
        if accepted:  # "add to symptoms" of a learned phrasing (the case page): a normal edit, saved by the engineer
            draft = dataclasses.replace(
                draft, sections=kb_phrasings.with_symptom(draft.sections, accepted)
            )
        return _render(
            editor.check_draft(kb(), draft, role, ui_lang(), original_id=target.case_id),
            role,
            target=target,
            base_hash=target.base_hash,
        )
    draft = editor.Draft.from_form(request.form)
    review = kept_review(
        target.draft.fields.get("review"), draft.fields.get("review", "")
    )  # a draft ends by a review only
    draft = editor.Draft(
        dict(draft.fields, id=target.case_id, review=review),
        draft.sections,
        draft.heading_lang,
        draft.extra,
        draft.content_lang,
    )
    return _submit(draft, role, target, request.form.get("base_hash") or None)


def _submit(
    draft: editor.Draft, role: str, target: editor.EditTarget | None, base_hash: str | None
) -> str | Response | tuple[str, int]:
    """One press of a form button: mark as related, redact, check, or save."""
    original = target.case_id if target else None
    notice = None
    relate = request.form.get("relate")
    action = "relate" if relate else request.form.get("action", "check")
    if relate:
        draft = draft.with_related(relate.strip())
    elif action == "redact":
        draft, replaced = drafts.redact_draft(draft, kb().settings.customer_domain_list)
        notice = t("editor.redacted", n=replaced)
    check = editor.check_draft(kb(), draft, role, ui_lang(), original_id=original)
    if action != "save":
        return _render(check, role, target=target, base_hash=base_hash, notice=notice)
    if check.has_errors:
        return _render(check, role, target=target, base_hash=base_hash, blocked=True), 422
    try:
        identity = access.current_identity()
        result = editor.save_draft(
            kb(),
            check,
            target,
            base_hash,
            float(current_app.config.get(INDEX_WAIT_CONFIG, 3.0)),
            author=history.author_for(identity.name if identity else "unknown", kb().settings),
            summary=request.form.get("summary", ""),
        )
    except (
        ConflictError
    ):  # an edit of a file that changed since (a new case skips ids taken meanwhile)
        return _render(check, role, target=target, base_hash=base_hash, conflict="changed"), 409
    except (
        IdUnavailableError
    ):  # no id could be given to the new case: nothing about which ids exist is said
        log.exception("could not give a new case an id")
        return _render(check, role, target=target, base_hash=base_hash, conflict="no_id"), 409
    except SaveFailedError:  # git or the disk refused: the file is as it was, the draft in the form
        return _render(check, role, target=target, base_hash=base_hash, conflict="not_saved"), 503
    access.record(
        "case_edit" if target else "case_create",
        result.case_id,
        {"index": result.index, "commit": result.commit or ""},
    )
    key = {"done": "editor.saved", "busy": "editor.saved_busy"}.get(
        result.index, "editor.saved_failed"
    )
    flash(t(key, id=result.case_id))
    if result.indexed or kb().store.get_case(result.case_id) is not None:
        return redirect(url_for("web.case", case_id=result.case_id), code=303)
    return redirect(url_for("web.search"), code=303)


def _render(
    check: editor.DraftCheck,
    role: str,
    target: editor.EditTarget | None = None,
    base_hash: str | None = None,
    **state: Any,
) -> str:
    lang = ui_lang()
    no_git = not session.get(NO_GIT_NOTED) and history.repo_for(kb().settings) is None
    if no_git:  # said once per session: saves here are not recorded in a history
        session[NO_GIT_NOTED] = True
    return render_template(
        "editor.html",
        check=check,
        draft=check.draft,
        mode="edit" if target else "new",
        summary=request.form.get("summary", "") if request.method == "POST" else "",
        no_git=no_git,
        case_id=target.case_id if target else None,
        base_hash=base_hash or "",
        prompts=editor.section_prompts(lang),
        sections=editor.SECTIONS,
        section_label=_section_label,
        statuses=STATUSES,
        severities=SEVERITIES,
        origins=ORIGINS,
        visibilities=visibilities_for(role),
        suggestions=editor.known_values(kb(), role),
        list_fields=drafts.LIST_FIELDS,
        **state,
    )


def _section_label(name: str) -> str:
    return section_label(name, ui_lang())
