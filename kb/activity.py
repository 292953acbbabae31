"""What people do with search: the search log, clicks and feedback, and the numbers built from them.

The models are declared on :class:`kb.store.Base`, so ``Store.create_schema()`` creates their
tables once this module has been imported. Recording and aggregation are plain SQLAlchemy and
run the same on SQLite and PostgreSQL.

Every logged text is redacted first (:mod:`kb.sensitive`: credentials, e-mail addresses, phone
numbers, IP addresses, customer domains become placeholders), so a pasted log's secrets are never
stored. A logged search is reopened by its ``token``, a random public id, never by its sequential
``id``; who may reopen it, or give feedback on it, is the web layer's rule (its ``author``).

Deflection is measured per search: a search *ended solved* when its latest decisive feedback
(``solved`` or ``escalated``) is ``solved``, *escalated* when it is ``escalated``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from kb.errors import QueryError
from kb.sensitive import redact, scan_text
from kb.store import Base, Store
from kb.subjects import (
    SUBJECT_TYPES,
    LogSignature,
    SearchSubject,
)  # (also registers the early-warning tables with the search log's)

VERDICTS = ("solved", "not_relevant", "escalated")
DECISIVE = ("solved", "escalated")
SOURCES = ("web", "api")
# the whole query (searcher.MAX_QUERY_CHARS): ?sid= reloads it; the nightly job scrubs old ones
MAX_LOGGED_QUERY = 100_000
MAX_ID = 2**63 - 1  # the largest id a store column holds (SQLite and PostgreSQL BIGINT)
TOKEN_BYTES = 18  # 144 random bits, 24 URL-safe characters
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,43}")


def _now() -> datetime:
    return datetime.now(UTC)


class SearchLog(Base):
    """One answered search request (each page of results is a row; ``offset`` tells which)."""

    __tablename__ = "search_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token: Mapped[str] = mapped_column(
        String(43), unique=True, index=True, default=lambda: new_token()
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64), default="", index=True)
    lang: Mapped[str] = mapped_column(String(8), default="")
    kind: Mapped[str] = mapped_column(String(16), default="")
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    role: Mapped[str] = mapped_column(String(32), index=True)
    result_count: Mapped[int] = mapped_column(Integer)
    keyword_match: Mapped[bool] = mapped_column(default=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    generation: Mapped[str | None] = mapped_column(String(32))
    offset: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(8), default="web")


class Click(Base):
    """A result opened from a search."""

    __tablename__ = "search_clicks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[int] = mapped_column(
        ForeignKey("search_log.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    rank: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)


class Feedback(Base):
    """A verdict on a case (``solved``, ``not_relevant``) or on a whole search (``escalated``)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[int | None] = mapped_column(
        ForeignKey("search_log.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[str | None] = mapped_column(String(64), index=True)
    verdict: Mapped[str] = mapped_column(String(16), index=True)
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)


# -- recording ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchEvent:
    """What is logged about one search request."""

    text: str
    role: str
    result_count: int
    latency_ms: float
    generation: str | None = None
    lang: str = ""
    kind: str = ""
    filters: dict[str, Any] | None = None
    keyword_match: bool = True
    offset: int = 0
    source: str = "web"
    author: str = (
        ""  # the account name of who searched ("" when unknown: nobody but an admin reopens it)
    )
    # what the search was about (recorded for the first page only): (type, subject, template) tuples as
    # indexer.subjects.search_subjects returns them, computed on the indexer side (kb/ never imports it)
    subjects: tuple[tuple[str, str, str | None], ...] = ()
    top_case: str | None = None  # the first hit's id
    product: str = ""  # the search's single product filter, else the top case's
    component: str = ""


MAX_SUBJECTS = 20  # per type and search


def new_token() -> str:
    """A random public id for a logged search (unguessable, URL-safe)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def valid_token(token: str) -> bool:
    """Whether ``token`` has the shape of a search token (anything else is a bad parameter, not a miss)."""
    return _TOKEN.fullmatch(token) is not None


def redact_query(text: str, customer_domains: tuple[str, ...] = ()) -> str:
    """``text`` with every finding of the sensitive-data check replaced by its placeholder."""
    findings = scan_text(text, customer_domains)
    return redact(text, findings) if findings else text


def _redacted_filters(filters: dict[str, Any], customer_domains: tuple[str, ...]) -> dict[str, Any]:
    return {
        name: [
            redact_query(str(v), customer_domains)
            for v in (values if isinstance(values, list) else [values])
        ]
        for name, values in filters.items()
    }


def log_search(
    store: Store,
    event: SearchEvent,
    now: datetime | None = None,
    customer_domains: tuple[str, ...] = (),
) -> SearchLog:
    """Append one search to the log, its text and filter values redacted, and return the row (with
    its token). The same signed-in user asking the same thing again within :data:`REPEAT_MINUTES`
    (a reload, the language switch, back from a case) gets the row of the first time instead: a
    search is counted once in the statistics, trends and alerts, and its feedback goes to one row."""
    text = redact_query(event.text[:MAX_LOGGED_QUERY], customer_domains)
    filters = _redacted_filters(event.filters or {}, customer_domains)
    when = now or _now()
    if event.author:
        with store.session() as session:
            again = _repeated(session, event, text, filters, when)
            if again is not None:
                return again
    row = SearchLog(
        text=text,
        token=new_token(),
        author=event.author[:64],
        role=event.role,
        result_count=event.result_count,
        latency_ms=round(event.latency_ms, 2),
        generation=event.generation,
        lang=event.lang,
        kind=event.kind,
        filters=filters,
        keyword_match=event.keyword_match,
        offset=event.offset,
        source=event.source if event.source in SOURCES else "web",
        created_at=when,
    )
    with store.session() as session:
        session.add(row)
        session.flush()
        if event.offset == 0 and event.subjects:
            _record_subjects(session, row, event, customer_domains)
        return row


REPEAT_MINUTES = 30  # the same user's same search within this is the same search (see log_search)


def _repeated(
    session: Session, event: SearchEvent, text: str, filters: dict[str, Any], now: datetime
) -> SearchLog | None:
    """The author's own latest row of this very search (text, filters, page, role, source) in the
    last :data:`REPEAT_MINUTES`, or None."""
    recent = session.scalars(
        select(SearchLog)
        .where(
            SearchLog.author == event.author[:64],
            SearchLog.created_at >= now - timedelta(minutes=REPEAT_MINUTES),
            SearchLog.created_at <= now,
        )
        .order_by(SearchLog.created_at.desc(), SearchLog.id.desc())
        .limit(50)
    )
    source = event.source if event.source in SOURCES else "web"
    return next(
        (
            row
            for row in recent
            if row.text == text
            and (row.filters or {}) == filters
            and row.offset == event.offset
            and row.role == event.role
            and row.source == source
        ),
        None,
    )


def _kept_subjects(
    subjects: Sequence[tuple[str, str, str | None]],
) -> list[tuple[str, str, str | None]]:
    """Distinct subjects of a known type, the first :data:`MAX_SUBJECTS` of each type."""
    kept: dict[tuple[str, str], str | None] = {}
    per_type: dict[str, int] = {}
    for kind, subject, template in subjects:
        if (
            kind not in SUBJECT_TYPES
            or not subject
            or (kind, subject) in kept
            or per_type.get(kind, 0) >= MAX_SUBJECTS
        ):
            continue
        per_type[kind] = per_type.get(kind, 0) + 1
        kept[(kind, subject[:128])] = template
    return [(kind, subject, template) for (kind, subject), template in kept.items()]


def _record_subjects(
    session: Session, row: SearchLog, event: SearchEvent, customer_domains: tuple[str, ...]
) -> None:
    """One :class:`SearchSubject` per code and signature of the search, and each signature's
    :class:`LogSignature` (its template redacted) created or its ``last_seen`` moved on."""
    kept = _kept_subjects(event.subjects)
    session.add_all(
        SearchSubject(
            search_id=row.id,
            created_at=row.created_at,
            subject_type=kind,
            subject=subject,
            role=row.role,
            lang=row.lang,
            product=event.product[:128],
            component=event.component[:128],
            result_count=row.result_count,
            top_case=event.top_case[:64] if event.top_case else None,
        )
        for kind, subject, _ in kept
    )
    for kind, subject, template in kept:
        if kind == "signature":
            upsert_signature(
                session,
                subject[:40],
                redact_query(template or "", customer_domains),
                row.created_at,
            )


def upsert_signature(session: Session, signature_id: str, template: str, seen: datetime) -> None:
    """Create the signature's row, or widen its first/last seen to include ``seen`` (one statement,
    safe against a concurrent search inserting the same signature)."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    dialect_insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = LogSignature.__table__
    stmt = dialect_insert(table).values(
        signature_id=signature_id, template=template, first_seen=seen, last_seen=seen
    )
    excluded = stmt.excluded
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[table.c.signature_id],
            set_={
                "first_seen": case(
                    (excluded.first_seen < table.c.first_seen, excluded.first_seen),
                    else_=table.c.first_seen,
                ),
                "last_seen": case(
                    (excluded.last_seen > table.c.last_seen, excluded.last_seen),
                    else_=table.c.last_seen,
                ),
            },
        )
    )


def record_search(
    store: Store,
    event: SearchEvent,
    now: datetime | None = None,
    customer_domains: tuple[str, ...] = (),
) -> int:
    """Append one search to the log (redacted, see :func:`log_search`) and return its id."""
    return log_search(store, event, now, customer_domains).id


def get_search(store: Store, search_id: int) -> SearchLog | None:
    """The logged search with this id, or None (also for an id no store column can hold)."""
    if not 1 <= search_id <= MAX_ID:
        return None
    with store.session() as session:
        return session.get(SearchLog, search_id)


def get_search_by_token(store: Store, token: str) -> SearchLog | None:
    """The logged search with this public token, or None."""
    if not valid_token(token):
        return None
    with store.session() as session:
        return session.scalars(select(SearchLog).where(SearchLog.token == token)).first()


def record_click(
    store: Store, search_id: int, case_id: str, rank: int | None = None, now: datetime | None = None
) -> int | None:
    """Record that ``case_id`` was opened from search ``search_id``; None when that search is unknown.

    Whether the caller made that search and may see the case is the caller's check."""
    if not 1 <= search_id <= MAX_ID:
        return None
    with store.session() as session:
        if session.get(SearchLog, search_id) is None:
            return None
        row = Click(search_id=search_id, case_id=case_id[:64], rank=rank, created_at=now or _now())
        session.add(row)
        session.flush()
        return row.id


def check_feedback(verdict: str, search_id: int | None, case_id: str | None) -> None:
    """Raise :class:`QueryError` (with the field) unless the verdict fits what it is about."""
    if verdict not in VERDICTS:
        raise QueryError(
            f"verdict: unknown value '{verdict[:40]}' (expected one of: {', '.join(VERDICTS)})",
            "verdict",
        )
    if verdict == "escalated" and search_id is None:
        raise QueryError("search_id: an escalation is recorded against a search", "search_id")
    if verdict != "escalated" and not case_id:
        raise QueryError(f"case_id: '{verdict}' needs the case it is about", "case_id")


def record_feedback(
    store: Store,
    verdict: str,
    role: str,
    search_id: int | None = None,
    case_id: str | None = None,
    now: datetime | None = None,
) -> int:
    """Store one verdict and return its id.

    Raises :class:`QueryError` for an unknown verdict, a missing case or search, or an unknown
    ``search_id``. Whether ``case_id`` names a case the user may see, and whether the user made
    that search, is the caller's check.
    """
    check_feedback(verdict, search_id, case_id)
    with store.session() as session:
        if search_id is not None and (
            not 1 <= search_id <= MAX_ID or session.get(SearchLog, search_id) is None
        ):
            raise QueryError(f"search_id: no search {search_id}", "search_id")
        row = Feedback(
            verdict=verdict,
            role=role,
            search_id=search_id,
            case_id=case_id or None,
            created_at=now or _now(),
        )
        session.add(row)
        session.flush()
        return row.id


# -- aggregation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryCount:
    """A query text, how often it was asked in the window and when last."""

    text: str
    count: int
    last: datetime


@dataclass(frozen=True)
class Deflection:
    """Searches in the window and how they ended."""

    searches: int
    solved: int
    escalated: int

    @property
    def decided(self) -> int:
        return self.solved + self.escalated

    @property
    def rate(self) -> float | None:
        """Share of decided searches that ended solved (None when none was decided)."""
        return self.solved / self.decided if self.decided else None


@dataclass(frozen=True)
class ActivityStats:
    """Everything the stats page shows, for one window of days."""

    since: datetime
    days: int
    per_day: list[tuple[date, int]]
    deflection: Deflection
    latency_p50: float | None
    latency_p95: float | None
    content_gaps: list[QueryCount]
    escalated_queries: list[QueryCount]
    most_viewed: list[tuple[str, int]]
    most_solving: list[tuple[str, int]]


def window_start(days: int, today: date | None = None) -> datetime:
    """Midnight UTC at the start of a window of ``days`` days ending today (inclusive)."""
    today = today or _now().date()
    return datetime.combine(today - timedelta(days=days - 1), time.min, tzinfo=UTC)


def _first_pages(since: datetime, roles: Sequence[str] | None) -> Any:
    conditions = [SearchLog.created_at >= since, SearchLog.offset == 0]
    if roles is not None:
        conditions.append(SearchLog.role.in_(list(roles)))
    return conditions


def searches_per_day(
    session: Session, since: datetime, days: int, roles: Sequence[str] | None = None
) -> list[tuple[date, int]]:
    """Searches (first pages only) per UTC day, every day of the window present, oldest first."""
    day = func.date(SearchLog.created_at)
    rows: list[Any] = list(
        session.execute(select(day, func.count()).where(*_first_pages(since, roles)).group_by(day))
    )
    counts = {date.fromisoformat(str(d)[:10]): int(n) for d, n in rows if d is not None}
    start = since.date()
    return [
        (start + timedelta(days=i), counts.get(start + timedelta(days=i), 0)) for i in range(days)
    ]


def outcomes(
    session: Session, since: datetime, roles: Sequence[str] | None = None
) -> dict[int, str]:
    """search id -> ``solved`` | ``escalated`` (its latest decisive verdict) for searches in the window."""
    latest = (
        select(Feedback.search_id, func.max(Feedback.id).label("last"))
        .join(SearchLog, SearchLog.id == Feedback.search_id)
        .where(Feedback.verdict.in_(DECISIVE), *_first_pages(since, roles))
        .group_by(Feedback.search_id)
        .subquery()
    )
    rows: Any = session.execute(
        select(latest.c.search_id, Feedback.verdict).join(Feedback, Feedback.id == latest.c.last)
    )
    return {int(sid): str(verdict) for sid, verdict in rows}


def deflection(session: Session, since: datetime, roles: Sequence[str] | None = None) -> Deflection:
    """How many searches in the window ended solved and escalated."""
    searches = (
        session.scalar(
            select(func.count()).select_from(SearchLog).where(*_first_pages(since, roles))
        )
        or 0
    )
    ended = list(outcomes(session, since, roles).values())
    return Deflection(
        searches=searches, solved=ended.count("solved"), escalated=ended.count("escalated")
    )


def _query_counts(session: Session, conditions: Sequence[Any], limit: int) -> list[QueryCount]:
    last = func.max(SearchLog.created_at)
    rows = session.execute(
        select(SearchLog.text, func.count(), last)
        .where(*conditions)
        .group_by(SearchLog.text)
        .order_by(func.count().desc(), last.desc(), SearchLog.text)
        .limit(limit)
    )
    return [QueryCount(text, n, _aware(when)) for text, n, when in rows]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def content_gaps(
    session: Session, since: datetime, roles: Sequence[str] | None = None, limit: int = 20
) -> list[QueryCount]:
    """Queries that found nothing: no result at all, or nothing that matched a keyword."""
    return _query_counts(
        session,
        [
            *_first_pages(since, roles),
            or_(SearchLog.result_count == 0, SearchLog.keyword_match.is_(False)),
        ],
        limit,
    )


def escalated_queries(
    session: Session, since: datetime, roles: Sequence[str] | None = None, limit: int = 20
) -> list[QueryCount]:
    """Queries whose search ended escalated, most frequent first."""
    ids = [
        sid for sid, verdict in outcomes(session, since, roles).items() if verdict == "escalated"
    ]
    if not ids:
        return []
    return _query_counts(session, [SearchLog.id.in_(ids)], limit)


def latency_percentiles(
    session: Session, since: datetime, roles: Sequence[str] | None = None
) -> tuple[float | None, float | None]:
    """p50 and p95 of the logged latency (ms) in the window, None when nothing was logged."""
    values = sorted(
        session.scalars(select(SearchLog.latency_ms).where(*_first_pages(since, roles))).all()
    )
    if not values:
        return None, None
    return percentile(values, 50), percentile(values, 95)


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (``pct`` in 0..100)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return float(sorted_values[int(rank) - 1])


def most_viewed(session: Session, since: datetime, limit: int = 10) -> list[tuple[str, int]]:
    """(case id, clicks) in the window, most opened first."""
    rows = session.execute(
        select(Click.case_id, func.count())
        .where(Click.created_at >= since)
        .group_by(Click.case_id)
        .order_by(func.count().desc(), Click.case_id)
        .limit(limit)
    )
    return [(cid, n) for cid, n in rows]


def most_solving(session: Session, since: datetime, limit: int = 10) -> list[tuple[str, int]]:
    """(case id, ``solved`` verdicts) in the window, most solving first."""
    rows = session.execute(
        select(Feedback.case_id, func.count())
        .where(
            Feedback.created_at >= since,
            Feedback.verdict == "solved",
            Feedback.case_id.is_not(None),
        )
        .group_by(Feedback.case_id)
        .order_by(func.count().desc(), Feedback.case_id)
        .limit(limit)
    )
    return [(str(cid), n) for cid, n in rows]


def activity_stats(
    store: Store,
    days: int = 30,
    today: date | None = None,
    roles: Sequence[str] | None = None,
    limit: int = 20,
) -> ActivityStats:
    """The stats page's numbers for the last ``days`` days; ``roles`` limits whose queries are shown."""
    if days < 1:
        raise QueryError("days must be at least 1", "days")
    since = window_start(days, today)
    with store.session() as session:
        p50, p95 = latency_percentiles(session, since, roles)
        return ActivityStats(
            since=since,
            days=days,
            per_day=searches_per_day(session, since, days, roles),
            deflection=deflection(session, since, roles),
            latency_p50=p50,
            latency_p95=p95,
            content_gaps=content_gaps(session, since, roles, limit),
            escalated_queries=escalated_queries(session, since, roles, limit),
            most_viewed=most_viewed(session, since, limit * 2),
            most_solving=most_solving(session, since, limit * 2),
        )


# -- retention ---------------------------------------------------------------------------------

SCRUBBED = ""


def scrub_search_log(store: Store, older_than_days: int, now: datetime | None = None) -> int:
    """Blank the query text of searches older than ``older_than_days`` (pasted logs may hold customer
    data); counts, latencies, clicks and verdicts stay, so long-term deflection figures survive."""
    cutoff = (now or _now()) - timedelta(days=older_than_days)
    with store.session() as session:
        result = session.execute(
            update(SearchLog)
            .where(SearchLog.created_at < cutoff, SearchLog.text != SCRUBBED)
            .values(text=SCRUBBED)
        )
        return int(getattr(result, "rowcount", 0) or 0)  # an UPDATE's CursorResult


import kb.phrasings  # noqa: E402,F401  (registers the learned phrasings' votes beside the feedback they come from)
