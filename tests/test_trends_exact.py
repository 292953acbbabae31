"""The fast trends path (covering indexes, details only for the subjects shown, top cases cut in
SQL) against a straightforward computation in Python over the same small hand-made stream: every
window, filter and subject type, and the cases each role may read. SQLite and (with
KB_TEST_DATABASE_URL) PostgreSQL, via the ``store_url`` fixture."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from kb import activity, trends
from kb.activity import SearchEvent
from kb.case import Case
from kb.roles import visibilities_for
from kb.store import Store
from kb.trends import TrendFilters

NOW = datetime(2026, 3, 31, 12, 30, tzinfo=UTC)
CASES = {"ESC-1": "public", "ESC-2": "engineering", "ESC-3": "restricted", "ESC-4": "public"}


@dataclass(frozen=True)
class Logged:
    when: datetime
    kind: str
    subject: str
    role: str
    product: str
    component: str
    results: int
    top: str | None
    escalated: bool


def stream(seed: int = 3) -> list[Logged]:
    """~600 searches over 24 days: steady codes, a rising one, a signature, ties, zero results, verdicts."""
    rng = random.Random(seed)
    found = []
    subjects = [
        ("code", "sch-1"),
        ("code", "sch-2"),
        ("code", "wf-3"),
        ("signature", "l00000000000000aa"),
        ("code", "tie-a"),
        ("code", "tie-b"),
    ]
    for _ in range(520):
        kind, subject = rng.choice(subjects)
        when = NOW - timedelta(minutes=rng.randint(1, 24 * 24 * 60))
        found.append(
            Logged(
                when,
                kind,
                subject,
                rng.choice(["support", "engineer", "admin"]),
                rng.choice(["p1", "p2"]),
                rng.choice(["c1", "c2"]),
                rng.choice([0, 1, 3]),
                rng.choice([None, *CASES]),
                rng.random() < 0.15,
            )
        )
    for i in range(40):  # a burst in the last hours
        found.append(
            Logged(
                NOW - timedelta(minutes=1 + 4 * i),
                "code",
                "new-9",
                rng.choice(["support", "engineer"]),
                "p1",
                "c1",
                rng.choice([0, 2]),
                rng.choice([None, "ESC-2", "ESC-3"]),
                i % 3 == 0,
            )
        )
    found.append(
        Logged(
            NOW - timedelta(minutes=30), "code", "edge", "support", "p1", "c1", 1, "ESC-1", False
        )
    )
    found.append(
        Logged(NOW, "code", "edge", "support", "p1", "c1", 1, "ESC-1", False)
    )  # at `now`: outside
    return found


def reference(
    logged: list[Logged],
    window: str,
    filters: TrendFilters,
    subject_type: str | None,
    limit: int = trends.DEFAULT_LIMIT,
) -> list[dict]:
    """The trends of :mod:`kb.trends`'s documented rule, computed row by row in Python."""
    chosen = trends.WINDOWS[window]
    end, start = NOW, NOW - chosen.span
    base_start = start - timedelta(days=trends.BASELINE_DAYS)
    chart_start = end - chosen.chart_span

    def kept(r: Logged) -> bool:
        return (
            (not filters.product or r.product == filters.product)
            and (not filters.component or r.component == filters.component)
            and (not filters.role or r.role == filters.role)
        )

    rows = [r for r in logged if kept(r)]
    in_window = [r for r in rows if start <= r.when < end]
    counts = Counter((r.kind, r.subject) for r in in_window)
    candidates = sorted(counts, key=lambda k: (-counts[k], k))[: trends.CANDIDATES]
    if subject_type:
        candidates = [k for k in candidates if k[0] == subject_type]
    figures = []
    for key in candidates:
        mine = [r for r in in_window if (r.kind, r.subject) == key]
        baseline = sum(
            1 for r in rows if (r.kind, r.subject) == key and base_start <= r.when < start
        )
        figures.append(
            trends.SubjectCounts(
                key[0],
                key[1],
                len(mine),
                baseline,
                sum(r.results == 0 for r in mine),
                sum(r.escalated for r in mine),
            )
        )
    out = []
    for t in trends.rank_trends(figures, chosen.span, limit):
        key = (t.subject_type, t.subject)
        slots = Counter(
            trends.bucket_start(r.when, chosen.bucket)
            for r in rows
            if (r.kind, r.subject) == key and chart_start <= r.when < end
        )
        first = chart_start + (timedelta(hours=1) if chosen.bucket == "hour" else timedelta(days=1))
        tops = Counter(r.top for r in in_window if (r.kind, r.subject) == key and r.top is not None)
        cases = sorted(tops.items(), key=lambda item: (-item[1], item[0]))[
            : trends.CASES_PER_SUBJECT
        ]
        out.append(
            {
                "subject": key,
                "count": t.count,
                "baseline": t.baseline,
                "rising": t.rising,
                "ratio": t.ratio,
                "zero_share": t.zero_share,
                "escalation_share": t.escalation_share,
                "series": trends.fill_series(first, end, chosen.bucket, dict(slots)),
                "cases": cases,
            }
        )
    return out


def as_compared(report: trends.TrendReport) -> list[dict]:
    return [
        {
            "subject": (t.subject_type, t.subject),
            "count": t.count,
            "baseline": t.baseline,
            "rising": t.rising,
            "ratio": t.ratio,
            "zero_share": t.zero_share,
            "escalation_share": t.escalation_share,
            "series": t.series,
            "cases": t.cases,
        }
        for t in report.trends
    ]


@pytest.fixture
def filled(store_url):
    store = Store(store_url)
    store.create_schema()
    logged = stream()
    for r in logged:
        sid = activity.record_search(
            store,
            SearchEvent(
                text=r.subject,
                role=r.role,
                result_count=r.results,
                latency_ms=1,
                subjects=((r.kind, r.subject, "<ts> error <num>"),),
                top_case=r.top,
                product=r.product,
                component=r.component,
            ),
            now=r.when,
        )
        if r.escalated:
            activity.record_feedback(store, "escalated", r.role, search_id=sid, now=r.when)
            activity.record_feedback(
                store, "escalated", r.role, search_id=sid, now=r.when
            )  # twice: still one search
    with store.session() as session:
        store.upsert_cases(
            session,
            [
                Case(
                    id=cid,
                    title=f"title {cid}",
                    status="resolved",
                    product="p1",
                    component="c1",
                    visibility=vis,
                    created=NOW.date(),
                    sections=(),
                    path=f"{cid}.md",
                )
                for cid, vis in CASES.items()
            ],
        )
    yield store, logged
    store.close()


FILTERS = [
    TrendFilters(),
    TrendFilters(product="p1"),
    TrendFilters(component="c2"),
    TrendFilters(role="support"),
    TrendFilters(product="p2", component="c1", role="engineer"),
    TrendFilters(product="none"),
]


@pytest.mark.parametrize("window", list(trends.WINDOWS))
def test_fast_path_equals_the_row_by_row_computation(filled, window):
    store, logged = filled
    for filters in FILTERS:
        for subject_type in (None, "code", "signature"):
            got = as_compared(
                trends.trends(store, window, filters, now=NOW, subject_type=subject_type)
            )
            assert got == reference(logged, window, filters, subject_type), (
                window,
                filters,
                subject_type,
            )
    assert as_compared(trends.trends(store, window, now=NOW, limit=2)) == reference(
        logged, window, TrendFilters(), None, 2
    )
    assert trends.trends(store, window, now=NOW).trends  # the stream is not empty in any window


@pytest.mark.parametrize("role", ["support", "engineer", "admin"])
def test_each_role_reads_only_its_cases(filled, role):
    store, logged = filled
    report = trends.keep_readable(
        store, trends.trends(store, "week", now=NOW), visibilities_for(role), shown=10
    )
    allowed = set(visibilities_for(role))
    for trend, expected in zip(report.trends, reference(logged, "week", TrendFilters(), None)):
        assert trend.cases == [(cid, n) for cid, n in expected["cases"] if CASES[cid] in allowed]
    seen = {cid for t in report.trends for cid, _ in t.cases}
    assert role == "admin" or "ESC-3" not in seen
    assert role != "support" or seen <= {"ESC-1", "ESC-4"}
