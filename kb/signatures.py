"""A log signature's facts: its template, the cases that have it, how often it is searched, verdicts.

A signature is a masked log line template (:func:`kb.logsig.templates`); its id is the whole-line
token the generations index case logs under (``l`` + 16 hex digits). What one caller learns obeys the
search rules: only the cases their role may see, and only the searches made by roles that see no more
than theirs (a support user never learns what an administrator pasted). The signature page, the JSON
API and ``kb signature`` all show :func:`signature_report`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Select, case, func, select

from kb import logsig
from kb.activity import VERDICTS, Feedback, SearchLog
from kb.errors import IndexNotReadyError, NotFoundError, QueryError
from kb.roles import roles_within
from kb.sensitive import redact, scan_text
from kb.store import Store
from kb.subjects import LogSignature, SearchSubject

SIGNATURE_ID = re.compile(r"l[0-9a-f]{16}")
DAYS = 30  # the by-day chart
HOURS = 48  # the by-hour chart
SAMPLE_LINES = 3  # scrubbed log lines offered to a new case
SAMPLE_SEARCHES = 50  # recent searches looked through for them
MAX_CASES = 500


class CaseFinder(Protocol):
    """What the report needs of the searcher (:meth:`indexer.searcher.Searcher.cases_with_signature`)."""

    store: Store

    def cases_with_signature(
        self, signature_id: str, role: str = ..., limit: int = ...
    ) -> list[str]: ...


def signature_id(template: str) -> str:
    """The id of a template: the whole-line token the index holds for it."""
    return logsig._digest("l", template)


def check_signature_id(value: str) -> str:
    """``value`` when it is a signature id; raises :class:`QueryError` (400) otherwise."""
    if not SIGNATURE_ID.fullmatch(value or ""):
        raise QueryError("a signature id is 'l' followed by 16 hexadecimal digits", "signature")
    return value


def line_signatures(text: str, log_lines_only: bool = False) -> list[tuple[str, str]]:
    """(id, template) of each distinct signature in ``text``, in order; ``log_lines_only``: only of
    the lines that are log output (a description's own sentences are no signature to link)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if log_lines_only and not logsig.is_log_line(line):
            continue
        for template in logsig.templates(line):
            found.setdefault(signature_id(template), template)
    return list(found.items())


def is_new_problem(case_count: int, verdicts: dict[str, int]) -> bool:
    """A new problem: no case (the caller may see) has the signature, or its searches end escalated
    more often than solved."""
    return case_count == 0 or verdicts.get("escalated", 0) > verdicts.get("solved", 0)


# -- query builders (pure: executed by signature_report) -----------------------------------------


def _subjects(sig: str, roles: Sequence[str]) -> Any:
    return (
        SearchSubject.subject_type == "signature",
        SearchSubject.subject == sig,
        SearchSubject.role.in_(list(roles)),
    )


def times_query(sig: str, roles: Sequence[str], since: datetime) -> Select[Any]:
    """When the signature was searched since ``since`` (by the given roles)."""
    return select(SearchSubject.created_at).where(
        *_subjects(sig, roles), SearchSubject.created_at >= since
    )


def totals_query(sig: str, roles: Sequence[str]) -> Select[int, Any, datetime, datetime]:
    """Searches, zero-result searches, first and last seen."""
    zero = func.sum(case((SearchSubject.result_count == 0, 1), else_=0))
    return select(
        func.count(SearchSubject.id),
        zero,
        func.min(SearchSubject.created_at),
        func.max(SearchSubject.created_at),
    ).where(*_subjects(sig, roles))


def verdicts_query(sig: str, roles: Sequence[str]) -> Select[str, int]:
    """Verdicts given on the searches that named the signature, by verdict."""
    return (
        select(Feedback.verdict, func.count(func.distinct(Feedback.id)))
        .join(SearchSubject, SearchSubject.search_id == Feedback.search_id)
        .where(*_subjects(sig, roles))
        .group_by(Feedback.verdict)
    )


def samples_query(sig: str, roles: Sequence[str], limit: int = SAMPLE_SEARCHES) -> Select[Any]:
    """The (logged, redacted) texts of the latest searches that named the signature."""
    return (
        select(SearchLog.text)
        .join(SearchSubject, SearchSubject.search_id == SearchLog.id)
        .where(*_subjects(sig, roles))
        .order_by(SearchSubject.created_at.desc())
        .limit(limit)
    )


# -- the report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRef:
    id: str
    title: str
    versions: tuple[str, ...]
    status: str


@dataclass
class SignatureReport:
    """Everything one caller may know about one signature."""

    signature_id: str
    templates: list[str]
    cases: list[CaseRef]
    searches: int
    zero_results: int
    first_seen: datetime | None
    last_seen: datetime | None
    by_day: list[tuple[date, int]]
    by_hour: list[tuple[datetime, int]]
    verdicts: dict[str, int]
    index_ready: bool = True
    samples: list[str] = field(
        default_factory=list
    )  # scrubbed log lines from searches (editors only)

    @property
    def new_problem(self) -> bool:
        return is_new_problem(len(self.cases), self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "signature_id": self.signature_id,
            "templates": self.templates,
            "cases": [
                {"id": c.id, "title": c.title, "versions": list(c.versions), "status": c.status}
                for c in self.cases
            ],
            "searches": self.searches,
            "zero_results": self.zero_results,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "by_day": [[d.isoformat(), n] for d, n in self.by_day],
            "by_hour": [[h.isoformat(), n] for h, n in self.by_hour],
            "verdicts": self.verdicts,
            "new_problem": self.new_problem,
            "index_ready": self.index_ready,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def buckets(
    times: Sequence[datetime], now: datetime
) -> tuple[list[tuple[date, int]], list[tuple[datetime, int]]]:
    """Counts by day over the last :data:`DAYS` days and by hour over the last :data:`HOURS` hours
    (UTC, oldest first)."""
    now = _utc(now)
    today, hour = now.date(), now.replace(minute=0, second=0, microsecond=0)
    days = {today - timedelta(days=i): 0 for i in range(DAYS - 1, -1, -1)}
    hours = {hour - timedelta(hours=i): 0 for i in range(HOURS - 1, -1, -1)}
    for t in map(_utc, times):
        if t.date() in days:
            days[t.date()] += 1
        slot = t.replace(minute=0, second=0, microsecond=0)
        if slot in hours:
            hours[slot] += 1
    return list(days.items()), list(hours.items())


def case_template(text: str, sig: str) -> str | None:
    """The template in a log text whose id is ``sig``."""
    return next((t for t in logsig.templates(text) if signature_id(t) == sig), None)


def sample_lines(
    texts: Sequence[str],
    sig: str,
    customer_domains: tuple[str, ...] = (),
    limit: int = SAMPLE_LINES,
) -> list[str]:
    """Up to ``limit`` distinct lines of ``texts`` with the signature, each scrubbed by the
    sensitive-data check (:func:`kb.sensitive.redact`)."""
    found: list[str] = []
    for text in texts:
        for line in text.splitlines():
            if len(found) >= limit:
                return found
            template = logsig.mask_line(line)
            if signature_id(template) != sig:
                continue
            clean = redact(line.strip(), scan_text(line.strip(), customer_domains))
            if clean not in found:
                found.append(clean)
    return found


def signature_report(
    finder: CaseFinder,
    sig: str,
    role: str,
    now: datetime | None = None,
    customer_domains: tuple[str, ...] = (),
    with_samples: bool = False,
) -> SignatureReport:
    """The facts about signature ``sig`` that ``role`` may know; raises :class:`QueryError` for a
    malformed id or role and :class:`NotFoundError` when neither a visible case nor a counted search
    has it (exactly as for an id nobody ever saw)."""
    check_signature_id(sig)
    roles = roles_within(role)
    store = finder.store
    index_ready = True
    try:
        ids = finder.cases_with_signature(sig, role, MAX_CASES)
    except IndexNotReadyError:
        ids, index_ready = [], False
    found = store.get_cases(ids)
    cases = [found[cid] for cid in ids if cid in found]
    now = now or datetime.now(UTC)
    with store.session() as session:
        totals = session.execute(totals_query(sig, roles)).one()
        searches, zero = int(totals[0] or 0), int(totals[1] or 0)
        first: datetime | None = totals[2]
        last: datetime | None = totals[3]
        times = (
            session.scalars(times_query(sig, roles, _utc(now) - timedelta(days=DAYS))).all()
            if searches
            else []
        )
        verdicts = (
            {str(v): int(n) for v, n in session.execute(verdicts_query(sig, roles)).all()}
            if searches
            else {}
        )
        stored = session.get(LogSignature, sig) if searches else None
        texts = (
            session.scalars(samples_query(sig, roles)).all() if searches and with_samples else []
        )
        stored_template = stored.template if stored is not None else None
    if not cases and not searches:
        raise NotFoundError(f"no signature '{sig}'")
    templates = list(
        dict.fromkeys(t for t in (case_template(logsig.log_text(c), sig) for c in cases) if t)
    )
    if not templates and stored_template:
        templates = [stored_template]
    by_day, by_hour = buckets(times, now)
    return SignatureReport(
        sig,
        templates,
        [CaseRef(c.id, c.title, tuple(c.versions), c.status) for c in cases],
        searches,
        zero,
        _utc(first) if first else None,
        _utc(last) if last else None,
        by_day,
        by_hour,
        {v: int(verdicts.get(v, 0)) for v in VERDICTS},
        index_ready,
        sample_lines(texts, sig, customer_domains) if with_samples else [],
    )


# -- a new case from a signature -------------------------------------------------------------------

PREFILL_TEXT = {
    "ja": (
        "新しい問題: ログシグネチャ {sig}",
        "テンプレート:",
        "初回検出 {first} / 最終検出 {last}",
        "検索 {n} 件 (結果なし {zero} 件)、判定: 解決 {solved} / 該当なし {not_relevant} / "
        "エスカレーション {escalated}",
    ),
    "en": (
        "New problem: log signature {sig}",
        "Template:",
        "First seen {first} / last seen {last}",
        "{n} searches ({zero} with no result); verdicts: solved {solved} / "
        "not relevant {not_relevant} / escalated {escalated}",
    ),
}


def prefill_sections(report: SignatureReport, lang: str) -> dict[str, str]:
    """The editor's ``logs`` and ``investigation`` sections for a new case about the signature (pure):
    the scrubbed sample lines (else the templates) and what the search log says about it."""
    head, template_label, seen, counts = PREFILL_TEXT.get(lang, PREFILL_TEXT["en"])
    fmt = "%Y-%m-%d %H:%M UTC"
    lines = [head.format(sig=report.signature_id), "", template_label]
    lines += [f"    {t}" for t in report.templates]
    lines += [
        "",
        seen.format(
            first=report.first_seen.strftime(fmt) if report.first_seen else "-",
            last=report.last_seen.strftime(fmt) if report.last_seen else "-",
        ),
        counts.format(n=report.searches, zero=report.zero_results, **report.verdicts),
    ]
    sample = "\n".join(report.samples or report.templates)
    return {"logs": f"```text\n{sample}\n```", "investigation": "\n".join(lines)}


def reports_for_text(
    finder: CaseFinder,
    text: str,
    role: str,
    now: datetime | None = None,
    customer_domains: tuple[str, ...] = (),
) -> list[tuple[str, str, SignatureReport | None]]:
    """(id, template, report or None when nothing known has it) for each signature of pasted log
    lines; raises :class:`QueryError` when no line is long enough to be a signature."""
    found = line_signatures(text)
    if not found:
        raise QueryError(
            f"no log line template in the text (a line needs {logsig.MIN_TEMPLATE_WORDS} words or more)",
            "text",
        )
    results: list[tuple[str, str, SignatureReport | None]] = []
    for sig, template in found:
        try:
            results.append(
                (sig, template, signature_report(finder, sig, role, now, customer_domains))
            )
        except NotFoundError:
            results.append((sig, template, None))
    return results
