"""Server-side charts as inline SVG (no script, no external library); every label is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

from kb.activity import Deflection


def _nice_max(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 5, 10, 20, 50...)."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if top * step >= value:
                return top * step
        top *= 10


def bar_chart(
    points: Sequence[tuple[date, int]], title: str, width: int = 960, height: int = 200
) -> Markup:
    """A vertical bar chart of counts per day; each bar has a tooltip with its date and count."""
    left, bottom, top_pad = 34, 22, 10
    plot_w, plot_h = width - left - 6, height - bottom - top_pad
    peak = _nice_max(max((n for _, n in points), default=0) or 1)
    slot = plot_w / max(1, len(points))
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for frac in (0, 0.5, 1):
        y = top_pad + plot_h * (1 - frac)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{round(peak * frac)}</text>'
        )
    for i, (day, count) in enumerate(points):
        h = plot_h * count / peak
        x = left + i * slot + slot * 0.15
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{max(h, 0):.1f}"><title>{escape(day.isoformat())}: {count}</title></rect>'
        )
        last = len(points) - 1
        if i == last or (i % 7 == 0 and last - i >= 4):
            parts.append(
                f'<text class="axis" x="{x + slot * 0.35:.1f}" y="{height - 6}" text-anchor="middle">'
                f"{escape(day.strftime('%m-%d'))}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def deflection_bar(
    result: Deflection,
    solved: str,
    escalated: str,
    undecided: str,
    width: int = 960,
    height: int = 28,
) -> Markup:
    """A stacked bar: searches that ended solved, escalated, and without a verdict."""
    total = max(result.searches, result.decided)
    segments = [
        ("solved", solved, result.solved),
        ("escalated", escalated, result.escalated),
        ("undecided", undecided, max(0, total - result.decided)),
    ]
    parts = [
        f'<svg class="chart stacked" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(solved)} {result.solved} / {escape(escalated)} {result.escalated}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    x = 0.0
    for name, label, count in segments:
        w = width * count / total if total else (width if name == "undecided" else 0)
        if w <= 0:
            continue
        parts.append(
            f'<rect class="seg-{name}" x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" rx="0">'
            f"<title>{escape(label)}: {count}</title></rect>"
        )
        x += w
    parts.append("</svg>")
    return Markup("".join(parts))
