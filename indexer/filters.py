"""Search filters and roles: parsed and checked once, applied inside every engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date

from kb.case import REVIEW_STATES, STATUSES, VISIBILITIES
from kb.errors import QueryError
from kb.roles import visibilities_for


@dataclass(frozen=True)
class Filters:
    """Every attribute is a tuple of accepted values (empty: no constraint); dates are inclusive."""

    products: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    visibilities: tuple[str, ...] = ()
    reviews: tuple[str, ...] = ()  # draft | reviewed (a case without the field counts as reviewed)
    created_from: date | None = None
    created_to: date | None = None

    def is_empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))

    def for_role(self, role: str) -> Filters:
        """Narrow visibility to what ``role`` may see (never widen what was asked for)."""
        allowed = visibilities_for(role)
        wanted = tuple(v for v in (self.visibilities or allowed) if v in allowed)
        if set(wanted) == set(VISIBILITIES):
            wanted = ()
        elif not wanted:
            wanted = ("\x00none",)  # asked only for invisible levels: match nothing
        return replace(self, visibilities=wanted)

    def review_tags(self) -> tuple[str, ...]:
        """The reserved ``tags`` values the engines match for the review filter (:func:`review_tag`)."""
        return tuple(review_tag(r) for r in self.reviews)

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value:
                data[f.name] = value.isoformat() if isinstance(value, date) else list(value)
        return data


_PARAMS = {
    "product": "products",
    "component": "components",
    "status": "statuses",
    "tag": "tags",
    "version": "versions",
    "visibility": "visibilities",
    "review": "reviews",
}
_CHOICES = {"statuses": STATUSES, "visibilities": VISIBILITIES, "reviews": REVIEW_STATES}
# a case's review state rides in the engines' tags keyword field (facets read the store, not it)
REVIEW_TAG = "kb:review="


def review_tag(review: str | None) -> str:
    """The reserved tag of a review state: ``kb:review=draft``, else ``kb:review=reviewed``."""
    return REVIEW_TAG + ("draft" if review == "draft" else "reviewed")


MAX_VALUE_LENGTH = 200


def _parse_date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise QueryError(
            f"{name}: invalid date '{value[:40]}' (expected YYYY-MM-DD)", name
        ) from None


def parse_filters(params: Mapping[str, list[str]]) -> Filters:
    """Build :class:`Filters` from request-style parameters (``product=…&tag=…&from=…&to=…``)."""
    values: dict[str, object] = {}
    for param, attr in _PARAMS.items():
        items = tuple(
            dict.fromkeys(
                v.strip() for v in params.get(param, []) for v in v.split(",") if v.strip()
            )
        )
        for item in items:
            if len(item) > MAX_VALUE_LENGTH:
                raise QueryError(f"{param}: value longer than {MAX_VALUE_LENGTH} characters", param)
            if attr in _CHOICES and item not in _CHOICES[attr]:
                raise QueryError(
                    f"{param}: unknown value '{item}' (expected one of: {', '.join(_CHOICES[attr])})",
                    param,
                )
        values[attr] = items
    values["created_from"] = _parse_date((params.get("from") or [""])[0], "from")
    values["created_to"] = _parse_date((params.get("to") or [""])[0], "to")
    result = Filters(**values)  # type: ignore[arg-type]  # one dict of tuples and dates, each checked above
    if result.created_from and result.created_to and result.created_from > result.created_to:
        raise QueryError("from: the start date is after the end date", "from")
    return result
