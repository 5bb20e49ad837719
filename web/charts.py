"""Small hand-written SVG charts for the pages (no chart library, no JavaScript).

Pure functions from numbers to SVG markup. Every chart is an image with a
title for assistive technology (``role="img"`` and ``aria-label``); the pages
put the same numbers in a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

__all__ = ["Series", "interval_bar", "line_chart"]


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a chart: ``points`` are ``(x, y)``; ``y=None`` leaves a gap."""

    name: str
    points: Sequence[tuple[float, float | None]]
    css_class: str = "s0"


def interval_bar(
    low: float, value: float, high: float, lo: float, hi: float, *, label: str
) -> Markup:
    """A rating with its interval as a horizontal bar on the scale ``lo..hi``."""
    width, height = 160.0, 14.0
    span = hi - lo if hi > lo else 1.0

    def x(v: float) -> float:
        return round(2 + (width - 4) * (min(max(v, lo), hi) - lo) / span, 2)

    return Markup(
        f'<svg class="interval" viewBox="0 0 {width:g} {height:g}" width="{width:g}" '
        f'height="{height:g}" role="img" aria-label="{escape(label)}">'
        f'<line class="axis" x1="2" x2="{width - 2:g}" y1="7" y2="7"/>'
        f'<rect class="ci" x="{x(low)}" y="3" width="{max(1.0, x(high) - x(low)):.2f}" '
        f'height="8" rx="2"/>'
        f'<circle class="est" cx="{x(value)}" cy="7" r="3.5"/></svg>'
    )


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    y_label: str,
    x_label: str,
    y_range: tuple[float, float] | None = None,
    y_format: str = "{:.0f}",
    width: int = 640,
    height: int = 220,
) -> Markup:
    """Lines (with a dot per point) over a shared x axis, with min/max tick labels."""
    points = [(x, y) for s in series for x, y in s.points if y is not None]
    if not points:
        return Markup(f'<p class="empty">{escape(title)}: no data yet.</p>')
    left, right, bottom = 56.0, 12.0, 34.0
    top = 28.0 if len(series) > 1 else 12.0  # room for the legend
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = y_range if y_range is not None else (min(ys), max(ys))
    if y1 <= y0:
        y0, y1 = y0 - 1.0, y1 + 1.0
    if x1 <= x0:
        x0, x1 = x0 - 1.0, x1 + 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return round(left + plot_w * (x - x0) / (x1 - x0), 2)

    def py(y: float) -> float:
        return round(top + plot_h * (1 - (y - y0) / (y1 - y0)), 2)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMinYMin meet">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
        f'y2="{top + plot_h}"/>',
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}"/>',
    ]
    for value in (y0, y1):
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{py(value) + 4}" text-anchor="end">'
            f"{escape(y_format.format(value))}</text>"
        )
    if y0 < 0 < y1:
        parts.append(
            f'<line class="zero" x1="{left}" x2="{left + plot_w}" y1="{py(0)}" y2="{py(0)}"/>'
        )
    for value in (x0, x1):
        parts.append(
            f'<text class="tick" x="{px(value)}" y="{top + plot_h + 16}" text-anchor="middle">'
            f"{value:g}</text>"
        )
    parts.append(
        f'<text class="label" x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    parts.append(
        f'<text class="label" x="12" y="{top + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + plot_h / 2})">{escape(y_label)}</text>'
    )
    if len(series) > 1:
        for i, s in enumerate(series):
            lx = left + 10 + i * 130
            parts.append(
                f'<line class="line {escape(s.css_class)}" x1="{lx}" x2="{lx + 16}" '
                f'y1="10" y2="10"/><text class="legend" x="{lx + 20}" '
                f'y="14">{escape(s.name)}</text>'
            )
    for s in series:
        path: list[str] = []
        pen_up = True
        for x, y in s.points:
            if y is None:
                pen_up = True
                continue
            path.append(f"{'M' if pen_up else 'L'}{px(x)},{py(y)}")
            pen_up = False
        parts.append(f'<path class="line {escape(s.css_class)}" d="{" ".join(path)}"/>')
        for x, y in s.points:
            if y is not None:
                parts.append(
                    f'<circle class="dot {escape(s.css_class)}" cx="{px(x)}" cy="{py(y)}" r="3">'
                    f"<title>{escape(s.name)}: {escape(y_format.format(y))} at {x:g}</title>"
                    "</circle>"
                )
    parts.append("</svg>")
    return Markup("".join(parts))
