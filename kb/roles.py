"""Roles and visibility: who may read which cases. The one place these rules are declared.

A case has a visibility level (:data:`kb.case.VISIBILITIES`, narrowest first); a role reads a
fixed set of levels. Search, the editor, trends, signatures and alerts all ask here.
"""

from __future__ import annotations

from typing import Any

from kb.case import REVIEW_STATES, VISIBILITIES  # noqa: F401  (REVIEW_STATES: read here with the rules)
from kb.errors import QueryError

ROLES = ("support", "engineer", "admin")  # least privileged first
ROLE_VISIBILITY: dict[str, tuple[str, ...]] = {
    "support": ("support",),
    "engineer": ("support", "engineering"),
    "admin": VISIBILITIES,
}
EDITOR_ROLES = frozenset({"engineer", "admin"})


def visibilities_for(role: str) -> tuple[str, ...]:
    """Visibility levels a role may read; an unknown role is an error naming the roles."""
    try:
        return ROLE_VISIBILITY[role]
    except KeyError:
        raise QueryError(f"unknown role '{role}' (roles: {', '.join(ROLES)})", "role") from None


def can_read(role: str, visibility: str) -> bool:
    """Whether ``role`` may read a case at ``visibility``."""
    return visibility in visibilities_for(role)


def least_reader(visibility: str) -> str:
    """The least privileged role that reads a case at ``visibility`` (``restricted``: admin)."""
    return next((r for r in ROLES if visibility in ROLE_VISIBILITY[r]), ROLES[-1])


DRAFT_LEVEL = (
    "engineering"  # a draft is read at this level at least: engineers and admins, until reviewed
)


def effective_visibility(visibility: str, review: str | None = None) -> str:
    """The level a case is read at: its visibility, raised to :data:`DRAFT_LEVEL` while it is a draft."""
    if (
        review == "draft"
        and visibility in VISIBILITIES
        and VISIBILITIES.index(visibility) < VISIBILITIES.index(DRAFT_LEVEL)
    ):
        return DRAFT_LEVEL
    return visibility


def can_read_state(role: str, visibility: str, review: str | None = None) -> bool:
    """Whether ``role`` may read a case at ``visibility`` in review state ``review``."""
    return can_read(role, effective_visibility(visibility, review))


def can_read_case(case: Any, role: str) -> bool:
    """Whether ``role`` may read ``case`` (anything with a ``visibility`` and maybe a ``review``);
    a missing case is unreadable."""
    return case is not None and can_read_state(role, case.visibility, review_state(case))


def review_state(case: Any) -> str | None:
    """A case's review state: its ``review`` field, else the one its front matter kept (store rows)."""
    review = getattr(case, "review", None) or (getattr(case, "meta", None) or {}).get("review")
    return review if review in REVIEW_STATES else None


def can_edit(role: str) -> bool:
    """Whether ``role`` may write cases in the web editor."""
    return role in EDITOR_ROLES


def sees_everything(role: str) -> bool:
    """Whether ``role`` reads every visibility level."""
    return set(visibilities_for(role)) >= set(VISIBILITIES)


def roles_within(role: str) -> tuple[str, ...]:
    """The roles that see no more than ``role``: whose searches ``role`` may count (raises for an unknown role)."""
    allowed = set(visibilities_for(role))
    return tuple(r for r, seen in ROLE_VISIBILITY.items() if set(seen) <= allowed)


def highest_role(roles: Any) -> str | None:
    """The most privileged of ``roles`` (an iterable of names), or None when it names none we know."""
    ranked = [r for r in ROLES if r in set(roles)]
    return ranked[-1] if ranked else None


def reader_levels(visibility: str) -> tuple[str, ...]:
    """The visibility levels every reader of a case at ``visibility`` may open.

    A ``support`` case is read by support users, so only ``support`` cases open for all of its
    readers; an unknown level counts as the narrowest audience.
    """
    if visibility not in VISIBILITIES:
        return VISIBILITIES[:1]
    return VISIBILITIES[: VISIBILITIES.index(visibility) + 1]
