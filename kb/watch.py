"""``kb watch``: find bursts in the search-subject stream, alert once per burst, deliver reliably.

One run (:func:`run_watch`): count each subject's searches in the current window, fetch the
baselines of the few subjects with enough searches to matter, apply the rule of
:mod:`kb.bursts`, update the alert-state table (:class:`kb.alert_state.WatchAlert`) and deliver
every alert that still has channels pending, this run's and earlier runs' alike.

Once per burst (:func:`kb.alert_state.burst_steps`, which ``scripts/sim_bursts.py`` steps too): a
subject alerts only when it has no open burst. A burst stays open while the rule holds and for
``KB_WATCH_QUIET_MINUTES`` after the last run in which it held; then it ends, and the subject may
alert again. A burst is a *new problem* by the signature page's rule
(:func:`kb.signatures.is_new_problem`): no case the support role may open among its searches' top
cases, or more of its searches ended "escalated" than "solved".
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from kb.alert_state import WatchAlert, burst_steps
from kb.alerts import Payload, configured_channels, deliver
from kb.bursts import Baseline, Burst, BurstRule, Subject, detect, seasonal_slots
from kb.settings import Settings
from kb.signatures import is_new_problem
from kb.store import CaseRow, Store
from kb.subjects import LogSignature, SearchSubject

log = logging.getLogger("kb.watch")
ALERT_ROLE = "support"  # alert payloads carry only what this role may see


@dataclass
class WatchReport:
    """What one run found and did."""

    window_start: datetime
    window_end: datetime
    bursts: list[Burst] = field(default_factory=list)
    alerted: list[int] = field(default_factory=list)  # ids of the alerts this run opened
    continuing: list[int] = field(default_factory=list)  # open bursts seen again (no new alert)
    ended: list[int] = field(default_factory=list)
    delivered: list[int] = field(
        default_factory=list
    )  # alerts whose last pending channel went through this run
    undelivered: dict[int, dict[str, str]] = field(
        default_factory=dict
    )  # alert id -> channel -> error

    def as_dict(self) -> dict[str, Any]:
        return {
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "bursts": [
                {
                    "subject_type": b.subject_type,
                    "subject": b.subject,
                    "count": b.count,
                    "expected": b.expected,
                    "p_value": b.p_value,
                }
                for b in self.bursts
            ],
            "alerted": self.alerted,
            "continuing": self.continuing,
            "ended": self.ended,
            "delivered": self.delivered,
            "undelivered": {str(k): v for k, v in self.undelivered.items()},
        }


def rule_from_settings(settings: Settings) -> BurstRule:
    """The burst rule the ``watch_*`` settings describe."""
    return BurstRule(
        window_seconds=settings.watch_window_minutes * 60.0,
        baseline_days=settings.watch_baseline_days,
        floor_per_day=settings.watch_floor_per_day,
        p_threshold=settings.watch_p_threshold,
        min_count=settings.watch_min_count,
        dispersion=settings.watch_dispersion,
    )


# -- reading the stream ------------------------------------------------------------------------
def window_counts(session: Session, start: datetime, end: datetime) -> dict[Subject, int]:
    """Searches per (subject_type, subject) with ``start <= created_at < end``."""
    query = (
        select(SearchSubject.subject_type, SearchSubject.subject, func.count())
        .where(SearchSubject.created_at >= start, SearchSubject.created_at < end)
        .group_by(SearchSubject.subject_type, SearchSubject.subject)
    )
    return {(kind, subject): count for kind, subject, count in session.execute(query)}


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def baselines(
    session: Session, keys: Iterable[Subject], window_end: datetime, rule: BurstRule
) -> dict[Subject, Baseline]:
    """Each subject's :class:`Baseline` before the window ending at ``window_end`` (one indexed range
    query per subject: only the few subjects with ``min_count`` searches in the window are asked)."""
    end = window_end.timestamp()
    start = end - rule.window_seconds
    span_start = start - rule.baseline_days * 86400.0
    in_slot = or_(
        *(
            and_(SearchSubject.created_at >= _at(a), SearchSubject.created_at < _at(b))
            for a, b in seasonal_slots(end, rule)
        )
    )
    found = {}
    for kind, subject in keys:
        query = select(func.count(), func.coalesce(func.sum(case((in_slot, 1), else_=0)), 0)).where(
            SearchSubject.subject_type == kind,
            SearchSubject.subject == subject,
            SearchSubject.created_at >= _at(span_start),
            SearchSubject.created_at < _at(start),
        )
        row: Any = session.execute(query).one()
        total, seasonal = row
        found[(kind, subject)] = Baseline(int(total), int(seasonal))
    return found


@dataclass(frozen=True)
class BurstFacts:
    """What the window's searches of one subject say: their top cases, zero results, verdicts."""

    top_cases: list[str]  # most frequent first
    zero_result: int
    verdicts: dict[str, int]  # verdict -> how many of the searches had it

    @property
    def escalated(self) -> int:
        return self.verdicts.get("escalated", 0)


def burst_facts(session: Session, key: Subject, start: datetime, end: datetime) -> BurstFacts:
    """Top cases, zero-result searches and verdicts among a subject's searches in the window."""
    from kb.activity import Feedback

    rows = session.execute(
        select(SearchSubject.search_id, SearchSubject.top_case, SearchSubject.result_count).where(
            SearchSubject.subject_type == key[0],
            SearchSubject.subject == key[1],
            SearchSubject.created_at >= start,
            SearchSubject.created_at < end,
        )
    ).all()
    ids = sorted({r.search_id for r in rows})
    given: set[tuple[str, int]] = set()
    for i in range(0, len(ids), 500):
        given.update(
            (str(verdict), int(search_id or 0))
            for verdict, search_id in session.execute(
                select(Feedback.verdict, Feedback.search_id).where(
                    Feedback.search_id.in_(ids[i : i + 500])
                )
            )
        )
    tops = Counter(r.top_case for r in rows if r.top_case and r.result_count > 0)
    return BurstFacts(
        [case_id for case_id, _ in tops.most_common()],
        sum(1 for r in rows if r.result_count == 0 or not r.top_case),
        dict(Counter(verdict for verdict, _ in given)),
    )


def visible_cases(session: Session, case_ids: list[str]) -> list[dict[str, str]]:
    """Those of ``case_ids`` (the first 500) the support role may open now, id and title, in order."""
    if not case_ids:
        return []
    from kb.roles import visibilities_for

    allowed = set(visibilities_for(ALERT_ROLE))
    rows = {  # the visibility compared here, not in SQL: see kb.store.Store.visible_ids
        case_id: title
        for case_id, title, visibility in session.execute(
            select(CaseRow.id, CaseRow.title, CaseRow.visibility).where(
                CaseRow.id.in_(case_ids[:500])
            )
        )
        if visibility in allowed
    }
    return [
        {"id": case_id, "title": rows[case_id]} for case_id in case_ids[:500] if case_id in rows
    ]


def visible_top_case(session: Session, case_ids: list[str]) -> dict[str, str] | None:
    """The first of ``case_ids`` the support role may open now (id and title), None when none."""
    found = visible_cases(session, case_ids)
    return found[0] if found else None


def _link(settings: Settings, path: str) -> str:
    return settings.alert_base_url.rstrip("/") + path


def burst_payload(
    session: Session, burst: Burst, start: datetime, end: datetime, settings: Settings
) -> Payload:
    """The alert for ``burst``: names the subject (a signature by its redacted template), the counts,
    the window, the top case visible to support (or none), whether it is a new problem, the links."""
    facts = burst_facts(session, burst.key, start, end)
    visible = visible_cases(session, facts.top_cases)
    top = visible[0] if visible else None
    label = burst.subject
    links = {"trends": _link(settings, "/trends")}
    if burst.subject_type == "signature":
        template = session.get(LogSignature, burst.subject)
        label = template.template if template else burst.subject
        links["signature"] = _link(settings, f"/signatures/{burst.subject}")
    new_problem = is_new_problem(len(visible), facts.verdicts)
    reasons = []
    if new_problem and not visible:
        reasons.append("its searches match no case the support role can open")
    if new_problem and visible:
        reasons.append(
            f"{facts.escalated} of its {burst.count} searches ended escalated, "
            f"{facts.verdicts.get('solved', 0)} solved"
        )
    return {
        "kind": "burst",
        "subject_type": burst.subject_type,
        "subject": burst.subject,
        "label": label,
        "count": burst.count,
        "expected": burst.expected,
        "p_value": burst.p_value,
        "window_minutes": settings.watch_window_minutes,
        "window_start": start.isoformat(timespec="minutes"),
        "window_end": end.isoformat(timespec="minutes"),
        "zero_result": facts.zero_result,
        "escalated": facts.escalated,
        "new_problem": new_problem,
        "new_problem_reasons": reasons,
        "top_case": top,
        "links": links,
    }


# -- the run -----------------------------------------------------------------------------------
def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite returns naive UTC


def update_state(store: Store, settings: Settings, now: datetime, report: WatchReport) -> None:
    """Detect this run's bursts and open, continue or end the alert-state rows (one transaction)."""
    rule = rule_from_settings(settings)
    start, end = report.window_start, report.window_end
    quiet = timedelta(minutes=settings.watch_quiet_minutes)
    channels = configured_channels(settings)
    with store.session() as session:
        counts = window_counts(session, start, end)
        keys = [k for k, n in counts.items() if n >= rule.min_count]
        report.bursts = detect(counts, baselines(session, keys, end, rule), rule)
        open_rows = {
            (r.subject_type, r.subject): r
            for r in session.scalars(select(WatchAlert).where(WatchAlert.ended_at.is_(None)))
        }
        steps = burst_steps(
            {key: _aware(row.last_seen_at).timestamp() for key, row in open_rows.items()},
            [b.key for b in report.bursts],
            now.timestamp(),
            quiet.total_seconds(),
        )
        for key in steps.ended:
            open_rows[key].ended_at = now
            report.ended.append(open_rows[key].id)
        by_key = {b.key: b for b in report.bursts}
        for key in steps.continued:
            row = open_rows[key]
            row.last_seen_at, row.peak_count = now, max(row.peak_count, by_key[key].count)
            report.continuing.append(row.id)
        report.continuing.extend(open_rows[key].id for key in steps.waiting)
        for key in steps.opened:
            burst = by_key[key]
            payload = burst_payload(session, burst, start, end, settings)
            row = WatchAlert(
                subject_type=burst.subject_type,
                subject=burst.subject,
                started_at=now,
                last_seen_at=now,
                count=burst.count,
                peak_count=burst.count,
                expected=burst.expected,
                p_value=burst.p_value,
                new_problem=payload["new_problem"],
                payload=payload,
                pending=list(channels),
                attempts=0,
                last_error="",
            )
            session.add(row)
            session.flush()
            report.alerted.append(row.id)


def deliver_pending(
    store: Store,
    settings: Settings,
    report: WatchReport,
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Deliver every alert with channels pending (this run's and earlier runs'), recording the outcome."""
    with store.session() as session:
        pending = [
            (r.id, dict(r.payload), list(r.pending))
            for r in session.scalars(select(WatchAlert).order_by(WatchAlert.id))
            if r.pending
        ]
    for alert_id, payload, channels in pending:
        payload["id"] = alert_id
        failed = deliver(payload, channels, settings, **({"sleep": sleep} if sleep else {}))
        with store.session() as session:
            row = session.get(WatchAlert, alert_id)
            assert row is not None
            row.attempts += len(channels)
            row.pending = [c for c in channels if c in failed]
            row.last_error = "; ".join(f"{c}: {e}" for c, e in failed.items())
            if not failed:
                row.delivered_at = datetime.now(UTC)
        if failed:
            report.undelivered[alert_id] = failed
        else:
            report.delivered.append(alert_id)


def run_watch(
    settings: Settings,
    store: Store,
    now: datetime | None = None,
    sleep: Callable[[float], None] | None = None,
) -> WatchReport:
    """One ``kb watch`` run at ``now`` (default: the current time). Never raises for a delivery
    failure: those are logged, kept in the state table and retried on the next run."""
    now = _aware(now or datetime.now(UTC)).astimezone(UTC)
    report = WatchReport(now - timedelta(minutes=settings.watch_window_minutes), now)
    update_state(store, settings, now, report)
    deliver_pending(store, settings, report, sleep)
    for alert_id in report.alerted:
        log.info("alert %d opened", alert_id)
    return report


def send_test_alert(settings: Settings) -> dict[str, str | None]:
    """Send a test alert through every configured channel: channel -> None (delivered) or the error."""
    payload: Payload = {
        "kind": "test",
        "id": "test",
        "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    channels = configured_channels(settings)
    failed = deliver(payload, channels, settings)
    return {name: failed.get(name) for name in channels}


def summary_lines(report: WatchReport) -> list[str]:
    """A few lines for the terminal (or cron's mail)."""
    lines = [
        f"kb watch {report.window_start:%Y-%m-%d %H:%M}–{report.window_end:%H:%M} UTC: "
        f"{len(report.bursts)} burst(s), {len(report.alerted)} new alert(s), {len(report.continuing)} continuing, "
        f"{len(report.ended)} ended"
    ]
    lines += [
        f"  {b.subject_type} {b.subject}: {b.count} searches, expected {b.expected:.2f}, P={b.p_value:.1e}"
        for b in report.bursts
    ]
    lines += [
        f"  alert {i} undelivered (kept for the next run): {'; '.join(f'{c}: {e}' for c, e in errs.items())}"
        for i, errs in report.undelivered.items()
    ]
    return lines
