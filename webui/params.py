"""Search parameters: read from a query string, checked once, and written back into shareable URLs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote_plus, urlencode

from indexer.filters import Filters, parse_filters
from indexer.searcher import MAX_LIMIT
from kb import activity
from kb.errors import QueryError
from kb.sensitive import scan_text

# URL parameter -> Filters attribute, in the order they are written into URLs.
FILTER_PARAMS: dict[str, str] = {
    "product": "products",
    "component": "components",
    "status": "statuses",
    "tag": "tags",
    "version": "versions",
    "review": "reviews",
}
DATE_PARAMS: dict[str, str] = {"from": "created_from", "to": "created_to"}
# Query texts longer than this once URL-encoded travel by POST and are linked as ``/search?sid=<token>``:
# a pasted log in a URL breaks request-line limits (gunicorn: 4094 bytes) and proxies. app.js uses
# the same figure (the search form's ``data-post-over``); Japanese text takes 9 bytes a character.
LONG_QUERY_URL_CHARS = 2000
SEARCH_PARAMS = ("q", "sid", "limit", "offset", *FILTER_PARAMS, *DATE_PARAMS)


@dataclass(frozen=True)
class SearchParams:
    """One search as the user asked for it: text, filters, paging.

    ``sid`` is set when the text is referred to by its search-log entry's public token instead of
    being written into URLs (long texts; only its author, or an admin, can reopen it): links then
    carry ``sid`` and always an explicit ``offset``, which tells them apart from a bare
    ``/search?sid=`` link (that one restores the logged filters too).
    """

    text: str
    filters: Filters
    limit: int
    offset: int
    default_limit: int
    sid: str | None = None

    @property
    def has_query(self) -> bool:
        return bool(self.text.strip())

    @property
    def is_long(self) -> bool:
        """Whether the text must stay out of URLs (too long, several lines, or customer data)."""
        return keep_out_of_urls(self.text)

    def active_filters(self) -> list[tuple[str, str]]:
        """(parameter, value) for every active filter value, in URL order."""
        active = [
            (param, value)
            for param, attr in FILTER_PARAMS.items()
            for value in getattr(self.filters, attr)
        ]
        for param, attr in DATE_PARAMS.items():
            value = getattr(self.filters, attr)
            if value:
                active.append((param, value.isoformat()))
        return active

    def query_pairs(
        self,
        *,
        offset: int | None = None,
        without: tuple[str, str] | None = None,
        adding: tuple[str, str] | None = None,
        clear_filters: bool = False,
    ) -> list[tuple[str, str]]:
        """The parameters of this search as (name, value) pairs, optionally changed."""
        if self.sid is not None:
            pairs: list[tuple[str, str]] = [("sid", self.sid)]
        else:
            pairs = [("q", self.text)] if self.text else []
        filters = [] if clear_filters else [p for p in self.active_filters() if p != without]
        if adding and adding not in filters:
            if adding[0] in DATE_PARAMS:
                filters = [p for p in filters if p[0] != adding[0]]
            filters.append(adding)
        pairs += sorted(
            filters,
            key=lambda p: (
                list(FILTER_PARAMS).index(p[0])
                if p[0] in FILTER_PARAMS
                else len(FILTER_PARAMS) + list(DATE_PARAMS).index(p[0])
            ),
        )
        if self.limit != self.default_limit:
            pairs.append(("limit", str(self.limit)))
        page_offset = self.offset if offset is None else offset
        if without or adding or clear_filters:
            page_offset = 0
        if page_offset or self.sid is not None:
            pairs.append(("offset", str(page_offset)))
        return pairs

    def url(self, path: str = "/search", **changes: object) -> str:
        """A shareable URL of this search (``changes`` as for :meth:`query_pairs`)."""
        pairs = self.query_pairs(**changes)  # type: ignore[arg-type]  # the same keywords, passed through
        return f"{path}?{urlencode(pairs)}" if pairs else path


def too_long_for_url(text: str) -> bool:
    """Whether ``text``, URL-encoded, is over :data:`LONG_QUERY_URL_CHARS`."""
    return len(text) > LONG_QUERY_URL_CHARS or len(quote_plus(text)) > LONG_QUERY_URL_CHARS


def keep_out_of_urls(text: str) -> bool:
    """Whether a query text must never be written into a URL (browser history, access logs,
    referrers): too long, more than one line (a pasted log or e-mail), or anything the
    sensitive-data check flags (credentials, e-mail addresses, phone numbers, IP addresses). Such
    searches go by POST and are linked by their search token (``?sid=``)."""
    return too_long_for_url(text) or "\n" in text.strip() or bool(scan_text(text))


def _int_param(
    args: Mapping[str, Sequence[str]], name: str, default: int, low: int, high: int | None
) -> int:
    values = args.get(name) or []
    raw = values[0].strip() if values else ""
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name}: '{raw[:20]}' is not a whole number", name) from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise QueryError(f"{name} must be {bounds}", name)
    return value


MAX_OFFSET = 10_000


def parse_search_params(args: Mapping[str, Sequence[str]], default_limit: int) -> SearchParams:
    """Read ``q``, the filters, ``limit`` and ``offset``; raises :class:`QueryError` naming the bad field.

    ``args`` maps each parameter to its list of values (``request.args.to_dict(flat=False)``).
    """
    text = ((args.get("q") or [""])[0]).replace("\r\n", "\n")
    filters = parse_filters(
        {name: list(args.get(name) or []) for name in (*FILTER_PARAMS, *DATE_PARAMS)}
    )
    limit = _int_param(args, "limit", min(default_limit, MAX_LIMIT), 1, MAX_LIMIT)
    offset = _int_param(args, "offset", 0, 0, MAX_OFFSET)
    return SearchParams(
        text=text,
        filters=filters,
        limit=limit,
        offset=offset,
        default_limit=min(default_limit, MAX_LIMIT),
    )


def parse_optional_int(raw: object, name: str) -> int | None:
    """An optional positive id from a form or JSON value; :class:`QueryError` when it is not one."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise QueryError(f"{name} must be a whole number", name)
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name} must be a whole number", name) from None
    if value < 1:
        raise QueryError(f"{name} must be positive", name)
    if value > activity.MAX_ID:
        raise QueryError(f"{name} must be at most {activity.MAX_ID}", name)
    return value
