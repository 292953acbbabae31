"""The JSON API under /api/v1: search, cases, similar cases, trends, feedback, the editor's draft checks, health."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request, url_for
from werkzeug.exceptions import UnsupportedMediaType

from indexer import generation as gen
from kb import drafts
from kb import feedback as kb_feedback
from kb.errors import QueryError
from webui import access, editor, service, trends_views
from webui.body import json_object
from webui.params import parse_optional_int, parse_search_params
from webui.security import t, ui_lang

bp = Blueprint("api", __name__)


kb = access.current_kb


@bp.before_request
def _json_only() -> None:
    """State-changing calls must be JSON: a cross-site HTML form cannot send that content type."""
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and not request.is_json:
        raise UnsupportedMediaType("send the body as application/json")


def _hit(hit: Any) -> dict[str, Any]:
    data: dict[str, Any] = hit.to_dict()
    data["url"] = url_for("web.case", case_id=hit.id)
    return data


@bp.get("/search")
def search() -> dict[str, Any]:
    params = parse_search_params(request.args.to_dict(flat=False), kb().settings.search_limit)
    identity = access.current_identity()
    page = service.run_search(
        kb(),
        params,
        access.current_role(),
        source="api",
        facets=False,
        author=identity.name if identity is not None else "",
    )
    body = page.response.to_dict()
    body["hits"] = [_hit(h) for h in page.hits]
    return {"ok": True, **body, "search_id": page.search_id}


@bp.get("/trends")
def trends() -> dict[str, Any]:
    """The trends of ``window`` (hour|day|week), their matching cases limited to what the caller may read."""
    window, filters = trends_views.parse_trend_args(request.args.to_dict(flat=False))
    view = trends_views.trends_view(kb(), access.current_role(), window, filters)
    return {"ok": True, **trends_views.trends_document(view)}


@bp.get("/cases/<case_id>")
def case(case_id: str) -> dict[str, Any]:
    found = service.visible_case(kb(), case_id, access.current_role())
    if found.visibility == "restricted":
        access.record("view_restricted", found.id, {"via": "api"})
    return {
        "ok": True,
        "case": service.case_document(
            found, service.visible_related(kb(), found, access.current_role())
        ),
    }


@bp.get("/cases/<case_id>/similar")
def similar(case_id: str) -> dict[str, Any]:
    limit = parse_optional_int(request.args.get("limit"), "limit") or service.SIMILAR_LIMIT
    if limit > service.MAX_SIMILAR:
        raise QueryError(f"limit must be between 1 and {service.MAX_SIMILAR}", "limit")
    case = service.visible_case(kb(), case_id, access.current_role())
    response = service.similar_hits(kb(), case.id, access.current_role(), limit=limit)
    body = response.to_dict()
    body["hits"] = [_hit(h) for h in response.hits]
    return {"ok": True, "case_id": case.id, **body}


@bp.post("/feedback")
def feedback() -> tuple[dict[str, Any], int]:
    """A verdict on a case or on one of the caller's own searches (``search_id`` from their search response)."""
    data = json_object()
    verdict = data.get("verdict")
    case_id = data.get("case_id")
    if not isinstance(verdict, str):
        raise QueryError("verdict is required (solved, not_relevant or escalated)", "verdict")
    if case_id is not None and not isinstance(case_id, str):
        raise QueryError("case_id must be a string", "case_id")
    search_id = parse_optional_int(data.get("search_id"), "search_id")
    identity = access.current_identity()
    feedback_id = kb_feedback.record_feedback(
        kb().store,
        access.current_role(),
        verdict,
        search_id,
        case_id,
        author=identity.name if identity is not None else "",
    )
    return {"ok": True, "feedback_id": feedback_id}, 201


@bp.post("/drafts/check")
def check_draft() -> dict[str, Any]:
    """The editor's live view of a draft: lint problems per form control, sensitive data, preview, similar cases.

    In: ``{"fields": {...}, "sections": {...}, "heading_lang": "ja", "original_id": null}``. ``original_id``
    is the case being edited (404 unless the caller may read it); a new draft's ``fields.id`` is ignored.
    """
    role = access.require_editor()
    data = json_object()
    draft = editor.Draft.from_json(data)
    original = data.get("original_id")
    if original is not None and not isinstance(original, str):
        raise QueryError("original_id must be a case id or null", "original_id")
    if original:
        original = service.visible_case(kb(), original, role).id
    check = editor.check_draft(kb(), draft, role, ui_lang(), original_id=original or None)
    related = check.related
    return {
        "ok": True,
        "problems": check.problems,
        "counts": {"errors": check.count("error"), "warnings": check.count("warning")},
        "sections": check.previews,
        "findings": check.findings,
        "similar": [
            {
                "id": h.id,
                "title": h.title,
                "status": h.status,
                "status_label": t(f"status.{h.status}"),
                "product": h.product,
                "component": h.component,
                "url": url_for("web.case", case_id=h.id),
                "related": h.id in related,
            }
            for h in check.similar
        ],
    }


@bp.post("/drafts/redact")
def redact_draft() -> dict[str, Any]:
    """The draft with likely personal or secret data replaced by placeholders (title and sections)."""
    access.require_editor()
    draft, replaced = drafts.redact_draft(
        editor.Draft.from_json(json_object()), kb().settings.customer_domain_list
    )
    return {
        "ok": True,
        "replaced": replaced,
        "fields": {"title": draft.fields.get("title", "")},
        "sections": dict(draft.sections),
        "extra": draft.extra,
    }


@bp.get("/health")
def health() -> dict[str, Any]:
    """Liveness for load balancers: the live generation (null before the first index); to an
    authenticated caller also the number of cases their role may see (never hidden ones)."""
    answer: dict[str, Any] = {"ok": True, "generation": gen.current_name(kb().settings.index_dir)}
    if access.current_identity() is not None:
        answer["cases"] = service.visible_case_count(kb(), access.current_role())
    return answer
