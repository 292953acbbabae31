"""The trends page (``/trends``) and what it and ``GET /api/v1/trends`` share: parsing the
parameters, dropping the matching cases the caller may not read, a small inline-SVG chart.

Every role may open trends: codes and signatures carry no customer data, only searches by roles
that see no more than the caller count (an admin's search of a restricted case's log shows its code
and template to admins, not to support), and the matching cases are only those the caller's role
may read (a support user never sees a restricted or engineering case's id or title here).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from flask import Blueprint, render_template, request
from markupsafe import Markup, escape

from kb import trends as kb_trends
from kb.case import Case
from kb.roles import ROLES, can_read_case, roles_within
from webui import access, service
from webui.security import t

bp = Blueprint("trends", __name__)
CASES_SHOWN = 3
_CODE_SHAPE = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)+")


@dataclass(frozen=True)
class TrendsView:
    report: kb_trends.TrendReport
    cases: dict[tuple[str, str], list[tuple[Case, int]]]  # per (type, subject): visible top cases

    def cases_of(self, trend: kb_trends.Trend) -> list[tuple[Case, int]]:
        return self.cases.get((trend.subject_type, trend.subject), [])

    def label_of(self, trend: kb_trends.Trend) -> str:
        """A code as its cases write it (``SCH-13208``; the log keeps it case-folded), else in
        upper case when it has the shape of one (``XYZ-AUTH-4012``, ``E_ACCESSDENIED``); a
        signature's id, or a code of another shape (``0x80070005``), as it is."""
        if trend.subject_type != "code":
            return trend.subject
        for case, _ in self.cases_of(trend):
            for code in case.error_codes:
                if code.casefold() == trend.subject:
                    return code
        return trend.subject.upper() if _CODE_SHAPE.fullmatch(trend.subject) else trend.subject


def parse_trend_args(args: Mapping[str, Sequence[str]]) -> tuple[str, kb_trends.TrendFilters]:
    """``window`` (hour|day|week, default day) and the filters of a trends request; raises
    :class:`QueryError` for a bad window, role or an overlong value."""

    def one(name: str) -> str:
        values = args.get(name) or [""]
        return str(values[0]).strip()

    window = one("window") or "day"
    kb_trends.get_window(window)
    filters = kb_trends.TrendFilters(
        product=one("product"), component=one("component"), role=one("role")
    )
    kb_trends.check_filters(filters, ROLES)
    return window, filters


def trends_view(
    kb: service.KB,
    role: str,
    window: str,
    filters: kb_trends.TrendFilters,
    now: datetime | None = None,
    limit: int = kb_trends.DEFAULT_LIMIT,
) -> TrendsView:
    """The ranked trends, each with the top cases ``role`` may read (at most :data:`CASES_SHOWN`);
    the hidden ones are dropped from the report too, so nothing downstream can show them."""
    within = roles_within(role)  # only searches by roles that see no more than the caller
    report = kb_trends.trends(
        kb.store, window, replace(filters, roles=within), now=now, limit=limit
    )
    ids = {cid for trend in report.trends for cid, _ in trend.cases}
    readable = {
        cid: case for cid, case in kb.store.get_cases(ids).items() if can_read_case(case, role)
    }
    kept = [
        replace(trend, cases=[(cid, n) for cid, n in trend.cases if cid in readable][:CASES_SHOWN])
        for trend in report.trends
    ]
    report = replace(report, trends=kept)
    return TrendsView(
        report,
        {(tr.subject_type, tr.subject): [(readable[cid], n) for cid, n in tr.cases] for tr in kept},
    )


def trends_document(view: TrendsView) -> dict[str, Any]:
    """The JSON form of a trends view (the API's body, less ``ok``)."""
    report = view.report
    items = []
    for trend in report.trends:
        item = trend.to_dict()
        item["cases"] = [
            {"id": case.id, "title": case.title, "status": case.status, "searches": n}
            for case, n in view.cases_of(trend)
        ]
        items.append(item)
    return {
        "window": report.window.name,
        "bucket": report.window.bucket,
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "baseline_start": report.baseline_start.isoformat(),
        "baseline_days": kb_trends.BASELINE_DAYS,
        "filters": {
            "product": report.filters.product,
            "component": report.filters.component,
            "role": report.filters.role,
        },
        "trends": items,
    }


def sparkline(
    series: Sequence[tuple[datetime, int]],
    label: str,
    bucket: str,
    width: int = 240,
    height: int = 40,
) -> Markup:
    """A small bar chart of counts per bucket; each bar's tooltip gives its time (UTC) and count."""
    peak = max((n for _, n in series), default=0) or 1
    slot = width / max(1, len(series))
    stamp = "%m-%d %H:00" if bucket == "hour" else "%Y-%m-%d"
    parts = [
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>',
        f'<line class="grid" x1="0" x2="{width}" y1="{height - 0.5}" y2="{height - 0.5}"/>',
    ]
    for i, (start, count) in enumerate(series):
        h = (height - 2) * count / peak
        parts.append(
            f'<rect class="bar" x="{i * slot + slot * 0.1:.1f}" y="{height - 1 - h:.1f}" width="{slot * 0.8:.1f}" '
            f'height="{h:.1f}"><title>{escape(start.strftime(stamp))}: {count}</title></rect>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


_kb = access.current_kb


@bp.get("/trends")
def trends_page() -> str:
    window, filters = parse_trend_args(request.args.to_dict(flat=False))
    view = trends_view(_kb(), access.current_role(), window, filters)
    charts = {
        (tr.subject_type, tr.subject): sparkline(
            tr.series, t("trends.chart", subject=tr.subject), view.report.window.bucket
        )
        for tr in view.report.trends
    }
    return render_template(
        "trends.html",
        view=view,
        report=view.report,
        charts=charts,
        windows=tuple(kb_trends.WINDOWS),
        roles=roles_within(access.current_role()),  # whose searches the caller may count
        baseline_days=kb_trends.BASELINE_DAYS,
    )
