"""Verdicts and clicks from the search pages, checked before they are stored: a user may only
vote on or click a case they may read, from a search they made (someone else's search answers
like an unknown one)."""

from __future__ import annotations

from kb import activity, phrasings
from kb.errors import QueryError
from kb.roles import can_read_case, roles_within
from kb.store import Store

MAX_RANK = 100_000


def is_author(logged: activity.SearchLog, author: str, role: str) -> bool:
    """Whether ``author`` made this search, in a role their ``role`` covers now (a demoted user's
    earlier searches are not theirs to reopen)."""
    return bool(logged.author) and logged.author == author and logged.role in roles_within(role)


def may_reopen(logged: activity.SearchLog, author: str, role: str) -> bool:
    """Whether the caller may read this logged search's text again: its author, or an admin."""
    return bool(logged.text.strip()) and (role == "admin" or is_author(logged, author, role))


def _own_search(store: Store, search_id: int, author: str, role: str) -> activity.SearchLog:
    logged = activity.get_search(store, search_id)
    if logged is None or not is_author(logged, author, role):
        raise QueryError(f"search_id: no search {search_id} of yours", "search_id")
    return logged


def _seen_case(store: Store, case_id: str, role: str) -> None:
    case = store.get_case(case_id) if len(case_id) <= 64 else None
    if not can_read_case(case, role):
        raise QueryError(f"case_id: no case '{case_id[:64]}'", "case_id")


def record_feedback(
    store: Store,
    role: str,
    verdict: str,
    search_id: int | None,
    case_id: str | None,
    author: str = "",
) -> int:
    """Store a verdict after checking that the case, when named, is one the user may see and that
    the search, when named, is one ``author`` made."""
    activity.check_feedback(verdict, search_id, case_id)
    if case_id:
        _seen_case(store, case_id, role)
    logged = _own_search(store, search_id, author, role) if search_id is not None else None
    feedback_id = activity.record_feedback(
        store, verdict, role, search_id=search_id, case_id=case_id
    )
    if (
        logged is not None and case_id
    ):  # the search's text becomes a vote for a learned phrasing (kb.phrasings)
        phrasings.record_vote(
            store, verdict, case_id, logged.text, author, role, logged.kind, logged.lang
        )
    return feedback_id


def record_click(
    store: Store,
    search_id: int,
    case_id: str,
    rank: int | None,
    author: str = "",
    role: str = "support",
) -> int:
    """Record that ``author`` opened a case they may see from a search they made; :class:`QueryError` otherwise."""
    if rank is not None and rank > MAX_RANK:
        raise QueryError(f"rank must be between 1 and {MAX_RANK}", "rank")
    _seen_case(store, case_id, role)
    _own_search(store, search_id, author, role)
    click = activity.record_click(store, search_id, case_id, rank)
    if click is None:  # deleted meanwhile
        raise QueryError(f"search_id: no search {search_id} of yours", "search_id")
    return click
