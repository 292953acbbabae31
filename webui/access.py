"""Who is asking. Until access control lands every user is support staff; replace this one function."""

from __future__ import annotations

DEFAULT_ROLE = "support"


def current_role() -> str:
    """The role of the user making the current request (visibility is enforced by the search layer)."""
    return DEFAULT_ROLE
