"""The JSON API under /api/v1: search, cases, similar cases, feedback, health."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request, url_for
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from indexer import generation as gen
from kb.errors import QueryError
from webui import service
from webui.access import current_role
from webui.params import parse_search_params

bp = Blueprint("api", __name__)


def kb() -> service.KB:
    return current_app.extensions["kb"]  # type: ignore[no-any-return]


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
    page = service.run_search(kb(), params, current_role(), source="api", facets=False)
    body = page.response.to_dict()
    body["hits"] = [_hit(h) for h in page.hits]
    return {"ok": True, **body, "search_id": page.search_id}


@bp.get("/cases/<case_id>")
def case(case_id: str) -> dict[str, Any]:
    return {"ok": True, "case": service.case_document(service.visible_case(kb(), case_id, current_role()))}


@bp.get("/cases/<case_id>/similar")
def similar(case_id: str) -> dict[str, Any]:
    limit = service.parse_optional_int(request.args.get("limit"), "limit") or service.SIMILAR_LIMIT
    if limit > service.MAX_SIMILAR:
        raise QueryError(f"limit must be between 1 and {service.MAX_SIMILAR}", "limit")
    case = service.visible_case(kb(), case_id, current_role())
    response = service.similar_hits(kb(), case.id, current_role(), limit=limit)
    body = response.to_dict()
    body["hits"] = [_hit(h) for h in response.hits]
    return {"ok": True, "case_id": case.id, **body}


@bp.post("/feedback")
def feedback() -> tuple[dict[str, Any], int]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    verdict = data.get("verdict")
    case_id = data.get("case_id")
    if not isinstance(verdict, str):
        raise QueryError("verdict is required (solved, not_relevant or escalated)", "verdict")
    if case_id is not None and not isinstance(case_id, str):
        raise QueryError("case_id must be a string", "case_id")
    search_id = service.parse_optional_int(data.get("search_id"), "search_id")
    feedback_id = service.record_feedback(kb(), current_role(), verdict, search_id, case_id)
    return {"ok": True, "feedback_id": feedback_id}, 201


@bp.get("/health")
def health() -> dict[str, Any]:
    """Liveness for load balancers: the live generation (null before the first index) and case count."""
    return {"ok": True, "generation": gen.current_name(kb().settings.index_dir), "cases": kb().store.case_count()}
