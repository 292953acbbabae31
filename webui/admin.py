"""Administrator pages: the audit log."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from kb.accounts import audit_events
from webui import access
from webui.params import parse_optional_int

bp = Blueprint("admin", __name__)
MAX_EVENTS = 1000


@bp.get("/audit")
def audit_log() -> str:
    access.require_admin()
    limit = min(parse_optional_int(request.args.get("limit"), "limit") or 200, MAX_EVENTS)
    events = audit_events(
        current_app.extensions["kb"].store,
        limit,
        request.args.get("actor") or None,
        request.args.get("action") or None,
    )
    return render_template("audit.html", events=events)
