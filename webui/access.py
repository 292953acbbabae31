"""Who is asking and what they may do. Until access control lands every user is support staff.

Real authentication replaces :func:`current_role`; everything else asks it (through this module,
at call time, so tests can monkeypatch it) or :func:`can_edit`.
"""

from __future__ import annotations

from flask import current_app, has_app_context
from werkzeug.exceptions import Forbidden

DEFAULT_ROLE = "support"
ROLE_CONFIG_KEY = "KB_ROLE"  # Flask config: the role of every request until authentication exists (tests, demos)
EDITOR_ROLES = frozenset({"engineer", "admin"})


def current_role() -> str:
    """The role of the user making the current request (visibility is enforced by the search layer)."""
    if has_app_context():
        return str(current_app.config.get(ROLE_CONFIG_KEY) or DEFAULT_ROLE)
    return DEFAULT_ROLE


def can_edit(role: str) -> bool:
    """Whether ``role`` may write and change cases (engineers and admins)."""
    return role in EDITOR_ROLES


def require_editor() -> str:
    """The current role when it may edit; raises :class:`Forbidden` (403) otherwise."""
    role = current_role()
    if not can_edit(role):
        raise Forbidden("writing and changing cases is for engineers")
    return role
