"""Charts as SVG text, drawn from the data here (the web console's statistics page).

Small and dependency-free: a line chart (one or more series over the same labels; a
missing value breaks the line) and a bar chart. Each chart is an accessible image:
``role="img"``, a ``<title>`` and a ``<desc>`` named by ``aria-labelledby``; the page puts
the same figures in a data table beside it, so nothing is only in the picture. Colours
are presentation attributes (no ``style``), so a strict Content-Security-Policy needs no
exception. Every text is escaped; the result is safe to place inline in HTML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import count
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 40, 28, 56
# Colours that keep a 3:1 contrast against white (WCAG's non-text contrast).
PALETTE = ("#1f5fa8", "#b3261e", "#2e7d32", "#6a1b9a")
_ids = count(1)


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float | None]


def nice_max(value: float) -> float:
    """A round upper bound for the axis (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _fmt(v: float) -> str:
    return f"{v:g}" if v < 100 else f"{v:.0f}"


def _frame(title: str, desc: str, top: float, unit: str, labels: list[str],
           x_of, width: int, height: int) -> list[str]:
    n = next(_ids)
    tid, did = f"chart-title-{n}", f"chart-desc-{n}"
    plot_h = height - TOP - BOTTOM
    parts = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
         f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMidYMid meet" '
         f'aria-labelledby="{tid} {did}">'),
        f'<title id="{tid}">{escape(title)}</title>',
        f'<desc id="{did}">{escape(desc)}</desc>',
    ]
    for i in range(5):  # grid lines and the value axis
        v = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#d0d0d0" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#333">{escape(_fmt(v))}</text>')
    parts.append(f'<text x="12" y="{TOP + plot_h / 2:.1f}" font-size="11" fill="#333" '
                 f'text-anchor="middle" transform="rotate(-90 12 {TOP + plot_h / 2:.1f})">'
                 f'{escape(unit)}</text>')
    every = max(1, math.ceil(len(labels) / 12))  # at most a dozen labels under the axis
    for i, label in enumerate(labels):
        if i % every:
            continue
        parts.append(f'<text x="{x_of(i):.1f}" y="{height - BOTTOM + 16}" font-size="11" '
                     f'fill="#333" text-anchor="middle">{escape(label)}</text>')
    return parts


def line_chart(*, title: str, desc: str, labels: list[str], series: list[Series],
               unit: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    """Lines over ``labels`` (one per series, points marked); a legend under the axis."""
    values = [v for s in series for v in s.values if v is not None]
    top = nice_max(max(values, default=0.0))
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    step = plot_w / max(len(labels) - 1, 1)

    def x_of(i: int) -> float:
        return LEFT + (i * step if len(labels) > 1 else plot_w / 2)

    def y_of(v: float) -> float:
        return TOP + plot_h - plot_h * (v / top)

    parts = _frame(title, desc, top, unit, labels, x_of, width, height)
    if not values:
        parts.append(f'<text x="{width / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" '
                     f'font-size="13" fill="#333">No data in this period</text>')
    for k, s in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        runs: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(s.values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append((x_of(i), y_of(v)))
        for run in runs:
            if len(run) > 1:
                pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" '
                             f'stroke-width="2"/>')
        for i, v in enumerate(s.values):
            if v is not None:
                parts.append(f'<circle cx="{x_of(i):.1f}" cy="{y_of(v):.1f}" r="3.5" '
                             f'fill="{colour}"><title>{escape(s.name)}, {escape(labels[i])}: '
                             f'{escape(_fmt(v))} {escape(unit)}</title></circle>')
        lx = LEFT + k * 180
        ly = height - 14
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="14" height="4" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 20}" y="{ly - 4}" font-size="12" fill="#222">'
                     f'{escape(s.name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(*, title: str, desc: str, labels: list[str], values: list[float], unit: str,
              width: int = WIDTH, height: int = HEIGHT, colour: str = PALETTE[1]) -> str:
    """One bar per label, its value written above it."""
    top = nice_max(max(values, default=0.0))
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)

    def x_of(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    parts = _frame(title, desc, top, unit, labels, x_of, width, height)
    bar = max(slot * 0.6, 1.0)
    for i, v in enumerate(values):
        h = plot_h * (v / top)
        y = TOP + plot_h - h
        parts.append(f'<rect x="{x_of(i) - bar / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                     f'height="{h:.1f}" fill="{colour}"><title>{escape(labels[i])}: '
                     f'{escape(_fmt(v))} {escape(unit)}</title></rect>')
        if v:
            parts.append(f'<text x="{x_of(i):.1f}" y="{y - 4:.1f}" font-size="11" fill="#222" '
                         f'text-anchor="middle">{escape(_fmt(v))}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
