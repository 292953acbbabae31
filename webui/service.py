"""What the views call: search with facets and logging, case pages, feedback and stats.

Views only parse the request, call one function here and render; everything here works on
plain values and is testable without a request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from indexer.facets import Facet, facets_for
from indexer.query_cache import caching_loader
from indexer.searcher import Hit, Searcher, SearchRequest, SearchResponse
from indexer.subjects import search_subjects
from kb import (
    activity,
    feedback,
)  # activity declares the activity tables, so open_store creates them
from kb.case import Case
from kb.errors import IndexNotReadyError, KBError, NotFoundError, QueryError
from kb.migrate import open_store
from kb.render import render_case_sections
from kb.roles import can_read_case, roles_within, visibilities_for
from kb.settings import Settings
from kb.store import Store
from webui.params import SEARCH_PARAMS, SearchParams, keep_out_of_urls, parse_search_params

log = logging.getLogger(__name__)

SIMILAR_LIMIT = 5
MAX_SIMILAR = 20


# -- the per-app objects -----------------------------------------------------------------------


@dataclass
class KB:
    """The one store and one searcher of an app (``app.extensions["kb"]``)."""

    settings: Settings
    store: Store
    searcher: Searcher

    @classmethod
    def open(cls, settings: Settings) -> KB:
        store = open_store(settings)
        return cls(settings, store, Searcher(settings, store, caching_loader(settings)))

    def close(self) -> None:
        self.store.close()

    def warm_up(self) -> threading.Thread:
        """Open the live generation, load its model and prepare it for queries (traced, see
        :mod:`indexer.traced`) in the background, so the first search does not wait for them
        (about 6 s on 2 cores); a search arriving sooner waits for the load, not for the tracing."""

        def load() -> None:
            try:
                encoder = self.searcher.encoder(self.searcher.generation().manifest.model)
                log.info(
                    "query model ready (%s)", "traced" if encoder.prepare_queries() else "as loaded"
                )
            except (
                KBError
            ) as exc:  # no index yet, or a model that cannot load: searches will say so
                log.warning("warm-up skipped: %s", exc)

        thread = threading.Thread(target=load, name="kb-warm-up", daemon=True)
        thread.start()
        return thread


# -- search --------------------------------------------------------------------------------------


@dataclass
class SearchPage:
    """One answered search, ready to render or serialise."""

    params: SearchParams
    response: SearchResponse
    search_id: int
    facets: list[Facet] = field(default_factory=list)
    latency_ms: float = 0.0
    token: str = (
        ""  # the log entry's public id: ``/search?sid=<token>`` reopens it (its author only)
    )

    @property
    def hits(self) -> list[Hit]:
        return self.response.hits

    @property
    def first(self) -> int:
        return self.params.offset + 1 if self.response.hits else 0

    @property
    def last(self) -> int:
        return self.params.offset + len(self.response.hits)

    @property
    def pages(self) -> list[tuple[int, int]]:
        """(page number, offset) for every page of the result set."""
        size = self.params.limit
        return [(i + 1, i * size) for i in range(-(-self.response.total // size))]

    def page_links(self, around: int = 2) -> list[tuple[int, int] | None]:
        """Pages to link: the first, the last and those near the current one; None marks a gap."""
        pages = self.pages
        current = self.params.offset // self.params.limit
        keep = [
            p for i, p in enumerate(pages) if i in (0, len(pages) - 1) or abs(i - current) <= around
        ]
        links: list[tuple[int, int] | None] = []
        for page in keep:
            if links and links[-1] is not None and page[0] - links[-1][0] > 1:
                links.append(None)
            links.append(page)
        return links

    @property
    def share_url(self) -> str:
        """A link to this search: its URL, or ``/search?sid=`` (this page's log entry) when the text is long."""
        if self.params.sid is not None:
            return f"/search?sid={self.token}"
        return self.params.url()

    @property
    def prev_offset(self) -> int | None:
        return max(0, self.params.offset - self.params.limit) if self.params.offset > 0 else None

    @property
    def next_offset(self) -> int | None:
        following = self.params.offset + self.params.limit
        return following if following < self.response.total else None


def keyword_matched(hits: Sequence[Hit]) -> bool:
    """Whether any hit was found by a keyword or log signature (not only by meaning)."""
    return any(h.why.get("lexical") or h.why.get("signature") for h in hits)


def run_search(
    kb: KB,
    params: SearchParams,
    role: str,
    source: str = "web",
    facets: bool = True,
    author: str = "",
) -> SearchPage:
    """Search, optionally count facets over the top candidates, and log the search (redacted, with its author)."""
    started = time.perf_counter()
    request = SearchRequest(
        text=params.text,
        filters=params.filters,
        role=role,
        limit=params.limit,
        offset=params.offset,
    )
    response = kb.searcher.search(request)
    counted = facets_for(kb.store, request.filters, role, response.candidates) if facets else []
    latency = (time.perf_counter() - started) * 1000
    first_page = params.offset == 0
    logged = activity.log_search(
        kb.store,
        activity.SearchEvent(
            text=params.text,
            role=role,
            result_count=response.total,
            latency_ms=latency,
            generation=response.generation,
            lang=response.query.get("weights_lang") or response.query.get("lang", ""),
            kind=response.query.get("kind", ""),
            filters=logged_filters(params),
            keyword_match=keyword_matched(response.hits) if first_page else True,
            offset=params.offset,
            source=source,
            author=author,
            **(subject_fields(params, response) if first_page else {}),
        ),
        customer_domains=kb.settings.customer_domain_list,
    )
    return SearchPage(params, response, logged.id, counted, latency, token=logged.token)


def run_browse(kb: KB, params: SearchParams, role: str, facets: bool = True) -> SearchPage:
    """The cases the filters pass, newest first, without a query (a tag's link): not a search, so
    nothing is logged and no feedback or click is asked for (``search_id`` 0)."""
    started = time.perf_counter()
    request = SearchRequest(
        text="", filters=params.filters, role=role, limit=params.limit, offset=params.offset
    )
    response = kb.searcher.browse(request)
    counted = facets_for(kb.store, request.filters, role, response.candidates) if facets else []
    return SearchPage(params, response, 0, counted, (time.perf_counter() - started) * 1000)


def subject_fields(params: SearchParams, response: SearchResponse) -> dict[str, Any]:
    """What the log records about a first page's subjects (:mod:`indexer.subjects`): the codes and
    signatures, the top case, and the product/component (the single filter value, else the top case's)."""
    top = response.hits[0] if response.hits else None
    logged = logged_filters(params)

    def single(name: str, fallback: str) -> str:
        values = logged.get(name, [])
        return values[0] if len(values) == 1 else fallback

    return {
        "subjects": tuple(search_subjects(params.text)),
        "top_case": top.id if top else None,
        "product": single("product", top.product if top else ""),
        "component": single("component", top.component if top else ""),
    }


@dataclass(frozen=True)
class FormProblem:
    """A mistake in the search page's filter form, shown by the filter (``key``: a webui.i18n message
    with ``values``); ``raw``: the values as typed, put back into the form."""

    field: str
    key: str
    values: dict[str, str]
    raw: dict[str, str]


DATE_FIELDS = ("from", "to")


def parse_search_form(
    args: Mapping[str, Sequence[str]], default_limit: int
) -> tuple[SearchParams, FormProblem | None]:
    """The search parameters of a results page. A date range the user got wrong (not a date, or the
    start after the end) is not a dead end: the search runs without the dates, keeping every other
    filter, and the problem says what to fix. Anything else wrong raises :class:`QueryError` as
    :func:`webui.params.parse_search_params` does."""
    try:
        return parse_search_params(args, default_limit), None
    except QueryError as exc:
        if exc.field not in DATE_FIELDS:
            raise
    raw = {name: str((args.get(name) or [""])[0])[:40] for name in DATE_FIELDS}
    params = parse_search_params(
        {k: v for k, v in args.items() if k not in DATE_FIELDS}, default_limit
    )
    for name in DATE_FIELDS:
        try:
            date.fromisoformat(raw[name]) if raw[name] else None
        except ValueError:
            return params, FormProblem(name, "form.date_invalid", {"value": raw[name]}, raw)
    return params, FormProblem(
        "from", "form.date_order", {"start": raw["from"], "end": raw["to"]}, raw
    )


def review_overdue(case: Case, today: date) -> bool:
    """Whether the case's ``review_by`` date has passed (its content may be out of date)."""
    return case.review_by is not None and case.review_by < today


def logged_filters(params: SearchParams) -> dict[str, list[str]]:
    """The active filters as URL parameters (``{"product": [...], "from": [...]}``), as the log keeps them."""
    logged: dict[str, list[str]] = {}
    for name, value in params.active_filters():
        logged.setdefault(name, []).append(value)
    return logged


def search_url_from_log(logged: activity.SearchLog, path: str = "/search") -> str:
    """The URL of a logged search (its first page), to go back to it; ``?sid=`` when the text must
    stay out of URLs (long, several lines, customer data)."""
    if keep_out_of_urls(logged.text):
        return f"{path}?sid={logged.token}"
    pairs = [("q", logged.text)] + [
        (name, str(v))
        for name, values in (logged.filters or {}).items()
        for v in (values if isinstance(values, list) else [values])
    ]
    return f"{path}?{urlencode(pairs)}"


def logged_search(kb: KB, token: str, author: str, role: str) -> activity.SearchLog:
    """The logged search with this public token, if the caller made it (or is an admin).

    Raises :class:`QueryError` for something that is not a token, :class:`NotFoundError` for an
    unknown, scrubbed or someone else's search (not told apart).
    """
    if not activity.valid_token(token):
        raise QueryError("sid: not a search link (expected the token of a logged search)", "sid")
    logged = activity.get_search_by_token(kb.store, token)
    if logged is None or not feedback.may_reopen(logged, author, role):
        raise NotFoundError("no such search (unknown, expired, or not yours)")
    return logged


def search_args_from_log(
    logged: activity.SearchLog, args: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """The parameters of a ``/search?sid=`` request: the logged text with the URL's filters and paging,
    or with the logged filters when the URL has nothing but ``sid`` (a shared link)."""
    own = {
        name: list(values)
        for name, values in args.items()
        if name in SEARCH_PARAMS and name not in ("q", "sid")
    }
    if not own:
        own = {
            name: [str(v) for v in (values if isinstance(values, list) else [values])]
            for name, values in (logged.filters or {}).items()
        }
    return {**own, "q": [logged.text]}


# -- cases ---------------------------------------------------------------------------------------


@dataclass
class CaseView:
    case: Case
    sections: list[dict[str, str]]
    related: list[Case]
    similar: list[Hit]


def visible_case(kb: KB, case_id: str, role: str) -> Case:
    """The case if ``role`` may see it; :class:`NotFoundError` otherwise (the two are not told apart)."""
    case = kb.store.get_case(case_id) if len(case_id) <= 64 else None
    if not can_read_case(case, role):
        raise NotFoundError(f"no case '{case_id[:64]}'")
    assert case is not None
    return case


def similar_hits(kb: KB, case_id: str, role: str, limit: int = SIMILAR_LIMIT) -> SearchResponse:
    """Cases like ``case_id`` (never the case itself)."""
    return kb.searcher.similar(case_id, role=role, limit=limit)


def case_view(kb: KB, case_id: str, role: str) -> CaseView:
    """A visible case rendered safely, with its visible related cases and similar cases."""
    case = visible_case(kb, case_id, role)
    found = kb.store.get_cases(case.related)
    related = [found[cid] for cid in case.related if can_read_case(found.get(cid), role)]
    try:
        similar = similar_hits(kb, case.id, role).hits
    except IndexNotReadyError:
        similar = []
    return CaseView(case, render_case_sections(case), related, similar)


def visible_case_count(kb: KB, role: str) -> int:
    """How many cases in the store ``role`` may see."""
    return kb.store.case_count(visibilities_for(role))


def visible_related(kb: KB, case: Case, role: str) -> list[str]:
    """The declared related ids that ``role`` may see (a hidden case's id is not revealed either)."""
    found = kb.store.get_cases(case.related)
    return [cid for cid in case.related if can_read_case(found.get(cid), role)]


def case_document(case: Case, related: list[str] | None = None) -> dict[str, Any]:
    """A case as JSON: metadata plus each section's Markdown and safe HTML (``related``: the visible ones)."""
    sections = render_case_sections(case)
    return {
        "id": case.id,
        "title": case.title,
        "status": case.status,
        "product": case.product,
        "component": case.component,
        "versions": list(case.versions),
        "fixed_in": case.fixed_in,
        "severity": case.severity,
        "tags": list(case.tags),
        "error_codes": list(case.error_codes),
        "visibility": case.visibility,
        "origin": case.origin,
        "lang": case.lang,
        "created": case.created.isoformat(),
        "resolved": case.resolved.isoformat() if case.resolved else None,
        "review_by": case.review_by.isoformat() if case.review_by else None,
        "authors": list(case.authors),
        "related": list(case.related if related is None else related),
        "path": f"cases/{case.path}",
        "sections": [
            {"name": s.name, "heading": s.heading, "markdown": s.text, "html": r["html"]}
            for s, r in zip(case.sections, sections)
        ],
    }


# -- feedback and clicks ---------------------------------------------------------------------------

# -- stats ---------------------------------------------------------------------------------------


@dataclass
class StatsView:
    stats: activity.ActivityStats
    cases: dict[str, Case]
    most_viewed: list[tuple[Case, int]]
    most_solving: list[tuple[Case, int]]


def stats_view(
    kb: KB, role: str, days: int = 30, today: date | None = None, limit: int = 10
) -> StatsView:
    """The stats page: queries of roles ``role`` covers, cases ``role`` may see."""
    stats = activity.activity_stats(
        kb.store, days=days, today=today, roles=list(roles_within(role)), limit=limit
    )
    ids = {cid for cid, _ in stats.most_viewed} | {cid for cid, _ in stats.most_solving}
    cases = {cid: c for cid, c in kb.store.get_cases(ids).items() if can_read_case(c, role)}
    viewed = [(cases[cid], n) for cid, n in stats.most_viewed if cid in cases][:limit]
    solving = [(cases[cid], n) for cid, n in stats.most_solving if cid in cases][:limit]
    return StatsView(stats, cases, viewed, solving)
