"""The HTML pages: search, case, click-through, feedback, stats (thin: parse, call, render)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    flash,
    g,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from indexer import reasons
from kb import activity
from kb import feedback as kb_feedback
from kb import phrasings as kb_phrasings
from kb.errors import QueryError
from webui import access, charts, service
from webui.auth import safe_next
from webui.i18n import label
from webui.params import SearchParams, parse_optional_int
from webui.security import t, ui_lang

bp = Blueprint("web", __name__)
NOTE = "at:"  # the category of a flashed confirmation shown next to the element with this id


@bp.app_context_processor
def _labels() -> dict[str, Callable[..., str]]:
    """``label(kind, slug)`` in every template: a stored slug in the UI language (the slug without a label)."""
    return {"label": lambda kind, value: label(kind, value, ui_lang())}


def notes_at(anchors: Iterable[str]) -> dict[str, str]:
    """Flashed confirmations aimed at elements of this page (``#hit-<id>``, ``#case-feedback``):
    shown there, where the user clicked, not at the top of the page."""
    wanted = set(anchors)
    flashed: list[tuple[str, str]] = get_flashed_messages(with_categories=True)  # type: ignore[assignment]  # Flask types the pairs as str
    return {
        category[len(NOTE) :]: message
        for category, message in flashed
        if category.startswith(NOTE) and category[len(NOTE) :] in wanted
    }


kb = access.current_kb


def author() -> str:
    """The account name of the caller (searches are logged under it; only its author reopens one)."""
    identity = access.current_identity()
    return identity.name if identity is not None else ""


@bp.get("/")
@bp.get("/search")
def search() -> str:
    """A search from the URL: ``q`` and filters, or ``sid``: the token of one of your logged
    searches, whose text is reused."""
    args = request.args.to_dict(flat=False)
    sid = request.args.get("sid") or None
    truncated = False
    if sid is not None:
        logged = service.logged_search(kb(), sid, author(), access.current_role())
        args = service.search_args_from_log(logged, args)
        truncated = len(logged.text) >= activity.MAX_LOGGED_QUERY
    params, problem = service.parse_search_form(args, kb().settings.search_limit)
    return _results(replace(params, sid=sid), truncated=truncated, problem=problem)


@bp.post("/search")
def search_posted() -> Any:
    """The search form sent by POST (long pasted logs): results at once, links by search id."""
    params, problem = service.parse_search_form(
        request.form.to_dict(flat=False), kb().settings.search_limit
    )
    return _results(params, posted=True, problem=problem)


def _results(
    params: SearchParams,
    truncated: bool = False,
    posted: bool = False,
    problem: service.FormProblem | None = None,
) -> Any:
    """The results page; with a ``problem`` in the filter form, the page again with the message by
    the filter, the typed values and the other filters kept (status 400)."""
    if params.has_query:
        page = service.run_search(kb(), params, access.current_role(), author=author())
    elif params.active_filters():  # filters alone (a tag's link): the cases they pass, newest first
        page = service.run_browse(kb(), params, access.current_role())
    else:
        page = None
    if page is not None and params.sid is None and (posted or params.is_long):
        params = replace(params, sid=page.token)
        page = replace(page, params=params)
    if posted or params.is_long:  # the language switch links by token too, never by the text
        g.lang_args = params.query_pairs() if page is not None else []
    shown = [h.id for h in page.hits + page.response.weak] if page is not None else []
    body = render_template(
        "search.html",
        params=params,
        page=page,
        display_terms=reasons.display_terms,
        hit_reasons=reasons.hit_reasons,
        leg_ranks=reasons.leg_ranks,
        problem=problem,
        notes=notes_at([*(f"hit-{cid}" for cid in shown), "escalate"]),
        truncated=truncated,
        max_logged=activity.MAX_LOGGED_QUERY,
    )
    return (body, 400) if problem is not None else body


@bp.get("/cases/<case_id>")
def case(case_id: str) -> str:
    """A case; ``sid`` (the token of the search it was opened from) adds the way back and ties feedback
    to that search, for its author only (anyone else's token is ignored, like an unknown one)."""
    sid = request.args.get("sid") or ""
    role = access.current_role()
    view = service.case_view(kb(), case_id, role)
    if view.case.visibility == "restricted":
        access.record("view_restricted", view.case.id)
    back, search_id = None, None
    logged = activity.get_search_by_token(kb().store, sid) if sid else None
    if logged is not None and kb_feedback.may_reopen(logged, author(), role):
        back = service.search_url_from_log(logged)
        search_id = logged.id if kb_feedback.is_author(logged, author(), role) else None
    # how support searched for it: engineers and admins only (support never sees the phrasings' text)
    learned = (
        kb_phrasings.case_phrasings(
            kb().store, view.case.id, kb_phrasings.rules_from(kb().settings), viewer=role
        )
        if access.can_edit(role)
        else None
    )
    return render_template(
        "case.html",
        view=view,
        case=view.case,
        search_id=search_id,
        back=back,
        learned=learned,
        overdue=service.review_overdue(view.case, date.today()),
        notes=notes_at(["case-feedback", "case-learned"]),
    )


@bp.post("/cases/<case_id>/phrasings/<key>")
def review_phrasing(case_id: str, key: str) -> Response:
    """An engineer confirms or removes a learned phrasing of the case (audited)."""
    role = access.require_editor()
    action = request.form.get("action", "")
    kb_phrasings.review(kb().store, action, case_id, key, author(), role)
    access.record(f"phrasing_{action}", case_id, {"key": key[:16]})
    flash(t(f"case.learned.{action}"), f"{NOTE}case-learned")
    return redirect(url_for("web.case", case_id=case_id) + "#case-learned", code=303)


@bp.post("/clicks")
def click() -> tuple[str, int]:
    """Record that a result was opened (sent by app.js as a beacon; the result link is a plain link)."""
    form = request.form
    search_id = parse_optional_int(form.get("search_id"), "search_id")
    if search_id is None:
        raise QueryError("search_id is required", "search_id")
    rank = parse_optional_int(form.get("rank"), "rank")
    kb_feedback.record_click(
        kb().store,
        search_id,
        form.get("case_id", ""),
        rank,
        author=author(),
        role=access.current_role(),
    )
    return "", 204


@bp.post("/feedback")
def feedback() -> Response:
    form = request.form
    verdict = form.get("verdict", "")
    case_id = form.get("case_id") or None
    search_id = parse_optional_int(form.get("search_id"), "search_id")
    target = safe_next(form.get("next"))  # checked before anything is stored
    kb_feedback.record_feedback(
        kb().store, access.current_role(), verdict, search_id, case_id, author=author()
    )
    anchor = urlsplit(
        target
    ).fragment  # the form's place on the page: the confirmation is shown there
    flash(
        t(f"feedback.thanks.{verdict}", case=case_id or ""),
        f"{NOTE}{anchor}" if anchor else "message",
    )
    return redirect(target, code=303)


@bp.get("/stats")
def stats() -> str:
    days = parse_optional_int(request.args.get("days"), "days") or 30
    if days > 366:
        raise QueryError("days must be at most 366", "days")
    view = service.stats_view(kb(), access.current_role(), days=days)
    return render_template(
        "stats.html",
        view=view,
        stats=view.stats,
        per_day_chart=charts.bar_chart(view.stats.per_day, t("stats.per_day")),
        deflection_chart=charts.deflection_bar(
            view.stats.deflection, t("stats.solved"), t("stats.escalated"), t("stats.undecided")
        ),
    )
