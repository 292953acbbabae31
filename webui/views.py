"""The HTML pages: search, case, click-through, feedback, stats (thin: parse, call, render)."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from kb import activity
from kb.errors import QueryError
from webui import access, charts, service
from webui.params import SearchParams, parse_search_params
from webui.security import t

bp = Blueprint("web", __name__)


def kb() -> service.KB:
    return current_app.extensions["kb"]  # type: ignore[no-any-return]


@bp.get("/")
@bp.get("/search")
def search() -> str:
    """A search from the URL: ``q`` and filters, or ``sid`` naming a logged search whose text is reused."""
    args = request.args.to_dict(flat=False)
    sid = service.parse_optional_int(request.args.get("sid"), "sid")
    truncated = False
    if sid is not None:
        logged = service.logged_search(kb(), sid, access.current_role())
        args = service.search_args_from_log(logged, args)
        truncated = len(logged.text) >= activity.MAX_LOGGED_QUERY
    params = parse_search_params(args, kb().settings.search_limit)
    return _results(replace(params, sid=sid), truncated=truncated)


@bp.post("/search")
def search_posted() -> str:
    """The search form sent by POST (long pasted logs): results at once, links by search id."""
    params = parse_search_params(request.form.to_dict(flat=False), kb().settings.search_limit)
    return _results(params, posted=True)


def _results(params: SearchParams, truncated: bool = False, posted: bool = False) -> str:
    page = service.run_search(kb(), params, access.current_role()) if params.has_query else None
    if page is not None and params.sid is None and (posted or params.is_long):
        params = replace(params, sid=page.search_id)
        page = replace(page, params=params)
    if posted:
        g.lang_args = params.query_pairs() if page is not None else []
    return render_template("search.html", params=params, page=page, display_terms=service.display_terms,
                           truncated=truncated, max_logged=activity.MAX_LOGGED_QUERY)


@bp.get("/cases/<case_id>")
def case(case_id: str) -> str:
    search_id = service.parse_optional_int(request.args.get("sid"), "sid")
    role = access.current_role()
    view = service.case_view(kb(), case_id, role)
    if view.case.visibility == "restricted":
        access.record("view_restricted", view.case.id)
    back = None
    if search_id is not None:
        logged = activity.get_search(kb().store, search_id)
        if logged is None:
            search_id = None
        elif logged.text.strip() and logged.role in service.covered_roles(role):  # never another role's query text
            back = service.search_url_from_log(logged)
    return render_template("case.html", view=view, case=view.case, search_id=search_id, back=back)


@bp.get("/go/<int:search_id>/<case_id>")
def go(search_id: int, case_id: str) -> Response:
    """Record that a result was opened, then show it."""
    rank = service.parse_optional_int(request.args.get("rank"), "rank")
    service.record_click(kb(), search_id, case_id, rank)
    return redirect(url_for("web.case", case_id=case_id, sid=search_id), code=303)


@bp.post("/feedback")
def feedback() -> Response:
    form = request.form
    verdict = form.get("verdict", "")
    case_id = form.get("case_id") or None
    search_id = service.parse_optional_int(form.get("search_id"), "search_id")
    service.record_feedback(kb(), access.current_role(), verdict, search_id, case_id)
    flash(t(f"feedback.thanks.{verdict}", case=case_id or ""))
    return redirect(safe_next(form.get("next")), code=303)


def safe_next(target: str | None) -> str:
    """A same-site path to go back to; anything else goes to the search page."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("web.search")


@bp.get("/stats")
def stats() -> str:
    days = service.parse_optional_int(request.args.get("days"), "days") or 30
    if days > 366:
        raise QueryError("days must be at most 366", "days")
    view = service.stats_view(kb(), access.current_role(), days=days)
    return render_template("stats.html", view=view, stats=view.stats,
                           per_day_chart=charts.bar_chart(view.stats.per_day, t("stats.per_day")),
                           deflection_chart=charts.deflection_bar(view.stats.deflection, t("stats.solved"),
                                                                  t("stats.escalated"), t("stats.undecided")))

