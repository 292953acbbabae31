"""Who is asking and what they may do, for the views: the signed-in identity and role
(:mod:`webui.auth` sets them per request), the checks a view makes, and the app's KB.

Views ask through this module at call time (so tests can monkeypatch it); the rules themselves
live in :mod:`kb.roles`.
"""

from __future__ import annotations

from typing import Any, cast

from flask import current_app, g, has_request_context, request
from werkzeug.exceptions import Forbidden

from kb.accounts import Identity, audit
from kb.roles import can_edit
from webui.service import KB

DEFAULT_ROLE = "support"  # the narrowest role: what an unresolved caller could ever see


def current_identity() -> Identity | None:
    """The authenticated caller of the current request (see :mod:`webui.auth`)."""
    return g.get("identity") if has_request_context() else None


def current_role() -> str:
    """The role of the user making the current request (visibility is enforced by the search layer)."""
    identity = current_identity()
    return identity.role if identity is not None else DEFAULT_ROLE


def record(action: str, target: str = "", detail: dict[str, Any] | None = None) -> None:
    """Audit an action of the current caller (restricted views, writes)."""
    identity = current_identity()
    audit(
        current_app.extensions["kb"].store,
        identity.name if identity else "-",
        identity.role if identity else "-",
        action,
        target,
        request.remote_addr or "" if has_request_context() else "",
        detail,
    )


def require_admin() -> str:
    role = current_role()
    if role != "admin":
        raise Forbidden("this page is for administrators")
    return role


def require_editor() -> str:
    """The current role when it may edit; raises :class:`Forbidden` (403) otherwise."""
    role = current_role()
    if not can_edit(role):
        raise Forbidden("writing and changing cases is for engineers")
    return role


def current_kb() -> KB:
    """The app's one store and searcher (``app.extensions["kb"]``), for the view modules."""
    return cast(KB, current_app.extensions["kb"])
