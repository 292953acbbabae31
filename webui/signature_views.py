"""The signature page and its JSON twin (thin: parse, call :mod:`kb.signatures`, render).

``/signatures/<id>`` and ``/api/v1/signatures/<id>`` show what the caller's role may know about one
log line template; the search results page links each log line of a query here
(``query_signatures`` in every template).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask import Blueprint, render_template, url_for
from markupsafe import Markup, escape

from kb import signatures
from webui import access
from webui.security import t

bp = Blueprint("signatures", __name__)
api_bp = Blueprint("signatures_api", __name__)
QUERY_SIGNATURES_SHOWN = 10


kb = access.current_kb


def _report(signature_id: str, with_samples: bool = False) -> signatures.SignatureReport:
    return signatures.signature_report(
        kb().searcher,
        signature_id,
        access.current_role(),
        customer_domains=kb().settings.customer_domain_list,
        with_samples=with_samples,
    )


@bp.app_context_processor
def _query_signatures() -> dict[str, Callable[[str], list[tuple[str, str]]]]:
    """``query_signatures(text)``: (id, template) of the log lines of a query, for the results page."""
    return {
        "query_signatures": lambda text: signatures.line_signatures(
            text or "", log_lines_only=True
        )[:QUERY_SIGNATURES_SHOWN]
    }


@bp.get("/signatures/<signature_id>")
def signature(signature_id: str) -> str:
    """One signature: template, visible cases, search volume, first/last seen, verdicts, "start a case"."""
    report = _report(signature_id)
    day_chart = volume_chart(
        [(d.strftime("%m-%d"), d.isoformat(), n) for d, n in report.by_day],
        t("sig.by_day"),
        every=7,
    )
    hour_chart = volume_chart(
        [(h.strftime("%H"), h.strftime("%Y-%m-%d %H:00Z"), n) for h, n in report.by_hour],
        t("sig.by_hour"),
        every=6,
    )
    return render_template(
        "signature.html",
        report=report,
        day_chart=day_chart,
        hour_chart=hour_chart,
        new_case_link=url_for("editor.new_case", signature=report.signature_id),
    )


@api_bp.get("/signatures/<signature_id>")
def signature_api(signature_id: str) -> dict[str, Any]:
    report = _report(signature_id)
    body = report.to_dict()
    for case in body["cases"]:
        case["url"] = url_for("web.case", case_id=case["id"])
    return {
        "ok": True,
        **body,
        "url": url_for("signatures.signature", signature_id=report.signature_id),
    }


def volume_chart(
    points: Sequence[tuple[str, str, int]],
    title: str,
    every: int = 7,
    width: int = 960,
    height: int = 160,
) -> Markup:
    """Bars of counts (``(axis label, tooltip, count)`` oldest first) as inline SVG; every label escaped."""
    left, bottom, top_pad = 34, 22, 10
    plot_w, plot_h = width - left - 6, height - bottom - top_pad
    peak = max((n for _, _, n in points), default=0)
    top = next(
        v
        for m in (1, 10, 100, 1000, 10_000, 100_000, 10**9)
        for v in (m, 2 * m, 5 * m)
        if v >= max(peak, 1)
    )
    slot = plot_w / max(1, len(points))
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for frac in (0, 0.5, 1) if top > 1 else (0, 1):
        y = top_pad + plot_h * (1 - frac)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{top * frac:g}</text>'
        )
    last = len(points) - 1
    for i, (axis, tip, count) in enumerate(points):
        h = plot_h * count / top
        x = left + i * slot + slot * 0.15
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}">'
            f"<title>{escape(t('sig.chart', label=tip, n=count))}</title></rect>"
        )
        if i == last or (i % every == 0 and last - i >= every // 2):
            parts.append(
                f'<text class="axis" x="{x + slot * 0.35:.1f}" y="{height - 6}" '
                f'text-anchor="middle">{escape(axis)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
