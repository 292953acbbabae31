"""Trends: the error codes and log signatures searched most in a window, against their own baseline.

The statistics are pure functions of counts (:func:`expected_count`, :func:`rise_ratio`,
:func:`is_rising`, :func:`rank_trends`, :func:`fill_series`); the store queries group in SQL over
:class:`kb.subjects.SearchSubject` and run the same on SQLite and PostgreSQL.

**Windows.** ``hour``, ``day`` and ``week`` end now; the baseline is the :data:`BASELINE_DAYS`
days before the window starts. The chart shows 24 hours by hour (hour and day windows) or the
window's 7 days by day (week).

**Ranking rule.** A subject's *expected* count is its baseline count scaled to the window's
length (``baseline × window / 14 days``). It is *rising* when it was searched at least
:data:`MIN_RISING` times in the window and more than :data:`RISE_FACTOR` times its expected count.
Rising subjects come first, by ``(count + 1) / (expected + 1)`` (highest first), then the others
by count; ties by count, then subject. Candidates are the :data:`CANDIDATES` subjects searched
most in the window.

**Speed.** Every query reads one of two covering indexes of ``search_subjects`` (migration 0008):
time first (the window's and the baseline's group-bys) or subject first (the details, chart and
top cases of the ranked subjects), so no query touches the table itself. The zero-result and
escalation counts, which the ranking does not use, are counted only for the subjects shown (with
the chart's buckets in the same pass when the chart spans the window).

Which matching cases a caller may see is not decided here: :func:`trends` returns every top case
id with its count; the web layer drops the ones the caller's role may not read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, select, tuple_
from sqlalchemy.orm import Session

from kb.activity import Feedback
from kb.errors import QueryError
from kb.store import Store
from kb.subjects import SUBJECT_TYPES, LogSignature, SearchSubject

BASELINE_DAYS = 14
MIN_RISING = 3
RISE_FACTOR = 2.0
CANDIDATES = 200
DEFAULT_LIMIT = 20
CASES_PER_SUBJECT = 10  # top cases fetched per subject (the caller keeps those it may see)
MAX_FILTER = 128


@dataclass(frozen=True)
class Window:
    """A trends window: its length, and the chart's span and bucket."""

    name: str
    span: timedelta
    chart_span: timedelta
    bucket: str  # "hour" or "day"


WINDOWS: dict[str, Window] = {
    "hour": Window("hour", timedelta(hours=1), timedelta(hours=24), "hour"),
    "day": Window("day", timedelta(days=1), timedelta(hours=24), "hour"),
    "week": Window("week", timedelta(days=7), timedelta(days=7), "day"),
}


def get_window(name: str) -> Window:
    """The window called ``name``; raises :class:`QueryError` naming the choices."""
    try:
        return WINDOWS[name]
    except KeyError:
        raise QueryError(
            f"window: unknown value '{name[:20]}' (expected one of: {', '.join(WINDOWS)})", "window"
        ) from None


@dataclass(frozen=True)
class TrendFilters:
    """Whose searches count: an exact product, component and searcher's role ("" = any), and
    only searches by ``roles`` (empty: every role). The web layer sets ``roles`` to those that see
    no more than the caller (:func:`kb.roles.roles_within`): an admin's search of a restricted log
    must not show its code or signature to support."""

    product: str = ""
    component: str = ""
    role: str = ""
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubjectCounts:
    """What the store counted for one subject."""

    subject_type: str
    subject: str
    count: int  # searches in the window
    baseline: int  # searches in the baseline period
    zero: int = 0  # searches in the window that found nothing
    escalated: int = 0  # searches in the window with an "escalated" verdict


@dataclass(frozen=True)
class Trend:
    """One ranked subject with its figures, chart series, top cases and (signature) template."""

    subject_type: str
    subject: str
    count: int
    baseline: int
    expected: float
    ratio: float
    rising: bool
    zero_share: float | None
    escalation_share: float | None
    series: list[tuple[datetime, int]] = field(default_factory=list)
    cases: list[tuple[str, int]] = field(
        default_factory=list
    )  # (top case id, searches), most first
    template: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.subject_type,
            "subject": self.subject,
            "count": self.count,
            "baseline": self.baseline,
            "expected": round(self.expected, 3),
            "ratio": round(self.ratio, 3),
            "rising": self.rising,
            "zero_share": self.zero_share,
            "escalation_share": self.escalation_share,
            "template": self.template,
            "series": [{"start": start.isoformat(), "count": n} for start, n in self.series],
            "cases": [{"id": cid, "searches": n} for cid, n in self.cases],
        }


@dataclass(frozen=True)
class TrendReport:
    window: Window
    start: datetime
    end: datetime
    baseline_start: datetime
    filters: TrendFilters
    trends: list[Trend]


# -- statistics (pure) -------------------------------------------------------------------------


def expected_count(
    baseline: int, window: timedelta, baseline_span: timedelta = timedelta(days=BASELINE_DAYS)
) -> float:
    """The baseline count scaled to the window's length (the rate-normalised expectation)."""
    if baseline_span <= timedelta(0):
        raise ValueError("baseline span must be positive")
    return baseline * (window / baseline_span)


def rise_ratio(count: int, expected: float) -> float:
    """How many times its usual volume a subject was searched, smoothed: ``(count + 1) / (expected + 1)``."""
    return (count + 1) / (expected + 1)


def is_rising(
    count: int, expected: float, min_count: int = MIN_RISING, factor: float = RISE_FACTOR
) -> bool:
    """At least ``min_count`` searches and more than ``factor`` times the expected count."""
    return count >= min_count and count > factor * expected


def share(part: int, whole: int) -> float | None:
    """``part / whole``, None when ``whole`` is 0."""
    return part / whole if whole else None


def rank_trends(
    counts: Sequence[SubjectCounts],
    window: timedelta,
    limit: int = DEFAULT_LIMIT,
    baseline_span: timedelta = timedelta(days=BASELINE_DAYS),
    min_count: int = MIN_RISING,
    factor: float = RISE_FACTOR,
) -> list[Trend]:
    """The subjects ranked by the module's rule (rising first by ratio, then by count), the first ``limit``."""
    trends = []
    for c in counts:
        if c.count <= 0:
            continue
        expected = expected_count(c.baseline, window, baseline_span)
        trends.append(
            Trend(
                c.subject_type,
                c.subject,
                c.count,
                c.baseline,
                expected,
                rise_ratio(c.count, expected),
                is_rising(c.count, expected, min_count, factor),
                share(c.zero, c.count),
                share(c.escalated, c.count),
            )
        )
    trends.sort(
        key=lambda t: (
            not t.rising,
            -t.ratio if t.rising else 0.0,
            -t.count,
            t.subject_type,
            t.subject,
        )
    )
    return trends[:limit]


def bucket_start(moment: datetime, bucket: str) -> datetime:
    """The start (UTC) of the hour or day ``moment`` falls in."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    if bucket == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    raise ValueError(f"unknown bucket '{bucket}' (expected hour or day)")


def fill_series(
    start: datetime, end: datetime, bucket: str, counts: dict[datetime, int]
) -> list[tuple[datetime, int]]:
    """Every bucket from the one holding ``start`` to the one holding ``end``, with its count (0 if none)."""
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    current, last = bucket_start(start, bucket), bucket_start(end, bucket)
    series = []
    while current <= last:
        series.append((current, counts.get(current, 0)))
        current += step
    return series


# -- store queries -----------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _conditions(filters: TrendFilters) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if filters.product:
        found.append(SearchSubject.product == filters.product)
    if filters.component:
        found.append(SearchSubject.component == filters.component)
    if filters.role:
        found.append(SearchSubject.role == filters.role)
    if filters.roles:
        found.append(SearchSubject.role.in_(list(filters.roles)))
    return found


def _between(start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(SearchSubject.created_at >= start, SearchSubject.created_at < end)


def _keyed(keys: Sequence[tuple[str, str]]) -> ColumnElement[bool]:
    return tuple_(SearchSubject.subject_type, SearchSubject.subject).in_(list(keys))


def window_counts(
    session: Session,
    start: datetime,
    end: datetime,
    baseline_start: datetime,
    filters: TrendFilters,
    candidates: int = CANDIDATES,
) -> list[SubjectCounts]:
    """Window and baseline (``[baseline_start, start)``) counts for the ``candidates`` subjects
    searched most in ``[start, end)``: what the ranking needs (``zero`` and ``escalated`` are left
    0 here; :func:`window_details` fills them for the subjects shown)."""
    where = _conditions(filters)
    count = func.count()
    rows = session.execute(
        select(SearchSubject.subject_type, SearchSubject.subject, count)
        .where(_between(start, end), *where)
        .group_by(SearchSubject.subject_type, SearchSubject.subject)
        .order_by(count.desc(), SearchSubject.subject_type, SearchSubject.subject)
        .limit(candidates)
    ).all()
    if not rows:
        return []
    keys = [(kind, subject) for kind, subject, _ in rows]
    baseline = dict(
        ((k, s), n)
        for k, s, n in session.execute(
            select(SearchSubject.subject_type, SearchSubject.subject, func.count())
            .where(_keyed(keys), _between(baseline_start, start), *where)
            .group_by(SearchSubject.subject_type, SearchSubject.subject)
        )
    )
    return [
        SubjectCounts(kind, subject, int(n), int(baseline.get((kind, subject), 0)))
        for kind, subject, n in rows
    ]


def window_details(
    session: Session,
    keys: Sequence[tuple[str, str]],
    start: datetime,
    end: datetime,
    filters: TrendFilters,
) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(searches, zero-result searches, searches with an "escalated" verdict) in ``[start, end)``
    for each subject in ``keys``: one query, read from the covering subject index."""
    if not keys:
        return {}
    escalated = exists().where(
        Feedback.search_id == SearchSubject.search_id, Feedback.verdict == "escalated"
    )
    query = (
        select(
            SearchSubject.subject_type,
            SearchSubject.subject,
            func.count(),
            func.sum(case((SearchSubject.result_count == 0, 1), else_=0)),
            func.sum(case((escalated, 1), else_=0)),
        )
        .where(_keyed(keys), _between(start, end), *_conditions(filters))
        .group_by(SearchSubject.subject_type, SearchSubject.subject)
    )
    rows: Any = session.execute(query)
    return {
        (str(kind), str(subject)): (int(n), int(zero or 0), int(esc or 0))
        for kind, subject, n, zero, esc in rows
    }


def _bucket_expression(session: Session, bucket: str) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc(bucket, func.timezone("UTC", SearchSubject.created_at))
    # SQLite keeps a DateTime as "YYYY-MM-DD HH:MM:SS.ffffff" text: its prefix is the bucket (cheaper than strftime)
    if bucket == "hour":
        return func.substr(SearchSubject.created_at, 1, 13) + ":00:00"
    return func.substr(SearchSubject.created_at, 1, 10) + " 00:00:00"


def _as_bucket(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def slot_counts(
    session: Session,
    keys: Sequence[tuple[str, str]],
    start: datetime,
    end: datetime,
    bucket: str,
    filters: TrendFilters,
    details: bool = False,
) -> dict[tuple[str, str], dict[datetime, tuple[int, int, int]]]:
    """(searches, zero-result, escalated) per hour or day bucket for each subject in ``keys`` over
    ``[start, end)``; the last two are counted only with ``details`` (else 0)."""
    if not keys:
        return {}
    slot = _bucket_expression(session, bucket)
    columns: list[Any] = [SearchSubject.subject_type, SearchSubject.subject, slot, func.count()]
    if details:
        escalated = exists().where(
            Feedback.search_id == SearchSubject.search_id, Feedback.verdict == "escalated"
        )
        columns += [
            func.sum(case((SearchSubject.result_count == 0, 1), else_=0)),
            func.sum(case((escalated, 1), else_=0)),
        ]
    rows: Any = session.execute(
        select(*columns)
        .where(_keyed(keys), _between(start, end), *_conditions(filters))
        .group_by(SearchSubject.subject_type, SearchSubject.subject, slot)
    )
    found: dict[tuple[str, str], dict[datetime, tuple[int, int, int]]] = {}
    for kind, subject, when, n, *more in rows:
        zero, escalated_n = (int(more[0] or 0), int(more[1] or 0)) if details else (0, 0)
        found.setdefault((str(kind), str(subject)), {})[_as_bucket(when)] = (
            int(n),
            zero,
            escalated_n,
        )
    return found


def series_counts(
    session: Session,
    keys: Sequence[tuple[str, str]],
    start: datetime,
    end: datetime,
    bucket: str,
    filters: TrendFilters,
) -> dict[tuple[str, str], dict[datetime, int]]:
    """Searches per hour or day bucket for each subject in ``keys`` over ``[start, end)``."""
    return {
        key: {when: n for when, (n, _, _) in slots.items()}
        for key, slots in slot_counts(session, keys, start, end, bucket, filters).items()
    }


def top_cases(
    session: Session,
    keys: Sequence[tuple[str, str]],
    start: datetime,
    end: datetime,
    filters: TrendFilters,
    per_subject: int = CASES_PER_SUBJECT,
) -> dict[tuple[str, str], list[tuple[str, int]]]:
    """The top cases of each subject's searches in ``[start, end)`` with how many searches had them
    first: at most ``per_subject`` each, most first, ties by case id (cut in SQL by a window function)."""
    if not keys:
        return {}
    n = func.count()
    rank = func.row_number().over(
        partition_by=(SearchSubject.subject_type, SearchSubject.subject),
        order_by=(n.desc(), SearchSubject.top_case),
    )
    grouped = (
        select(
            SearchSubject.subject_type,
            SearchSubject.subject,
            SearchSubject.top_case,
            n.label("n"),
            rank.label("rank"),
        )
        .where(
            _keyed(keys),
            _between(start, end),
            SearchSubject.top_case.is_not(None),
            *_conditions(filters),
        )
        .group_by(SearchSubject.subject_type, SearchSubject.subject, SearchSubject.top_case)
    ).subquery()
    found: dict[tuple[str, str], list[tuple[str, int]]] = {}
    rows: Any = session.execute(
        select(grouped.c.subject_type, grouped.c.subject, grouped.c.top_case, grouped.c.n)
        .where(grouped.c.rank <= per_subject)
        .order_by(grouped.c.subject_type, grouped.c.subject, grouped.c.rank)
    )
    for kind, subject, case_id, count in rows:
        found.setdefault((str(kind), str(subject)), []).append((str(case_id), int(count)))
    return found


def signature_templates(session: Session, ids: Sequence[str]) -> dict[str, str]:
    """signature id -> its stored (masked, redacted) template."""
    if not ids:
        return {}
    return dict(
        session.execute(
            select(LogSignature.signature_id, LogSignature.template).where(
                LogSignature.signature_id.in_(list(ids))
            )
        ).all()
    )


def _with_details(trend: Trend, details: tuple[int, int, int] | None) -> Trend:
    _, zero, escalated = details or (trend.count, 0, 0)
    return replace(
        trend, zero_share=share(zero, trend.count), escalation_share=share(escalated, trend.count)
    )


def check_filters(filters: TrendFilters, roles: Sequence[str]) -> None:
    """Raise :class:`QueryError` for an overlong product/component or an unknown role."""
    for name in ("product", "component"):
        if len(getattr(filters, name)) > MAX_FILTER:
            raise QueryError(f"{name} must be at most {MAX_FILTER} characters", name)
    if filters.role and filters.role not in roles:
        raise QueryError(
            f"role: unknown value '{filters.role[:20]}' (expected one of: {', '.join(roles)})",
            "role",
        )


def trends(
    store: Store,
    window: str = "day",
    filters: TrendFilters | None = None,
    now: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    subject_type: str | None = None,
) -> TrendReport:
    """The ranked trends of ``window`` ending ``now``; raises :class:`QueryError` for a bad window or type.

    ``subject_type`` (``code`` or ``signature``) keeps one kind only. Case ids are not filtered here."""
    chosen = get_window(window)
    if subject_type is not None and subject_type not in SUBJECT_TYPES:
        raise QueryError(
            f"type: unknown value '{subject_type[:20]}' (expected one of: {', '.join(SUBJECT_TYPES)})",
            "type",
        )
    filters = filters or TrendFilters()
    end = _utc(now or datetime.now(UTC))
    start = end - chosen.span
    baseline_start = start - timedelta(days=BASELINE_DAYS)
    with store.session() as session:
        counts = window_counts(session, start, end, baseline_start, filters)
        if subject_type is not None:
            counts = [c for c in counts if c.subject_type == subject_type]
        ranked = rank_trends(counts, chosen.span, limit)
        keys = [(t.subject_type, t.subject) for t in ranked]
        chart_start = end - chosen.chart_span
        if (
            chart_start == start
        ):  # the chart spans the window (day, week): one pass gives the details too
            slots = slot_counts(session, keys, start, end, chosen.bucket, filters, details=True)
            series = {key: {when: n for when, (n, _, _) in by.items()} for key, by in slots.items()}
            details = {
                key: (
                    sum(v[0] for v in by.values()),
                    sum(v[1] for v in by.values()),
                    sum(v[2] for v in by.values()),
                )
                for key, by in slots.items()
            }
        else:
            details = window_details(session, keys, start, end, filters)
            series = series_counts(session, keys, chart_start, end, chosen.bucket, filters)
        cases = top_cases(session, keys, start, end, filters)
        templates = signature_templates(session, [s for k, s in keys if k == "signature"])
    chart_first = chart_start + (
        timedelta(hours=1) if chosen.bucket == "hour" else timedelta(days=1)
    )  # whole buckets only
    filled = [
        replace(
            _with_details(t, details.get(key)),
            series=fill_series(chart_first, end, chosen.bucket, series.get(key, {})),
            cases=cases.get(key, []),
            template=templates.get(t.subject) if t.subject_type == "signature" else None,
        )
        for t, key in zip(ranked, keys)
    ]
    return TrendReport(chosen, start, end, baseline_start, filters, filled)


def keep_readable(
    store: Store, report: TrendReport, visibilities: Sequence[str], shown: int = 3
) -> TrendReport:
    """The report with each trend's cases cut to the existing cases of ``visibilities`` (at most ``shown``)."""
    ids = {cid for trend in report.trends for cid, _ in trend.cases}
    readable = {
        cid
        for cid, found in store.get_cases(ids).items()
        if found is not None and found.visibility in visibilities
    }
    kept = [
        replace(t, cases=[(cid, n) for cid, n in t.cases if cid in readable][:shown])
        for t in report.trends
    ]
    return replace(report, trends=kept)


def format_report(report: TrendReport) -> list[str]:
    """The report as text lines (``kb trends``)."""
    lines = [
        f"trends, last {report.window.name} ({report.start:%Y-%m-%d %H:%M} - {report.end:%Y-%m-%d %H:%M} UTC), "
        f"baseline: the previous {BASELINE_DAYS} days"
    ]
    if not report.trends:
        return lines + ["no error code or log signature was searched in this window"]
    for t in report.trends:
        pct = lambda v: "-" if v is None else f"{round(v * 100)}%"  # noqa: E731
        cases = ", ".join(f"{cid} ({n})" for cid, n in t.cases) or "no matching case"
        lines.append(
            f"{'RISING ' if t.rising else '       '}{t.subject_type:<9} {t.subject:<24} {t.count:>6} searches "
            f"(expected {t.expected:.1f})  no result {pct(t.zero_share)}  escalated {pct(t.escalation_share)}  {cases}"
        )
        if t.template:
            lines.append(f"          {t.template[:120]}")
    return lines
