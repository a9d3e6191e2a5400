"""
Charts
------

The dashboard's charts as SVG drawn on the server: nothing is fetched from the
network, and every label passes through :func:`markupsafe.escape` (release
names, predecessor names and titles come from hosts and logs, so they are
attacker-controlled). Plain SVG elements are written here rather than pulled
in from a plotting library: the three chart shapes are small, and a library
would mean JavaScript or a font cache in the collector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ("HeatCell", "Interval", "heatmap", "intervals", "timeline")

_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True, slots=True)
class HeatCell:
    """One cell of the transition matrix."""

    row: str
    column: str
    ratio: float  # rate ratio against the row's other predecessors
    boots: int
    href: str
    tip: str


@dataclass(frozen=True, slots=True)
class Interval:
    """A rate with its confidence interval, for the bisection and depth plots."""

    label: str
    rate: float
    low: float
    high: float
    highlight: bool = False
    href: str = ""


def _colour(ratio: float) -> str:
    """Blue below 1, white at 1, red above, on a log scale saturating at 8x."""
    if not math.isfinite(ratio) or ratio <= 0:
        ratio = 8.0 if ratio > 0 or math.isinf(ratio) else 1 / 8
    t = max(-1.0, min(1.0, math.log(ratio, 8)))
    if t >= 0:
        g = int(255 * (1 - t))
        return f"rgb(255,{g},{g})"
    b = int(255 * (1 + t))
    return f"rgb({b},{b},255)"


def heatmap(rows: Sequence[str], columns: Sequence[str], cells: Sequence[HeatCell]) -> Markup:
    """Rows (releases) by columns (predecessors); colour = rate ratio, opacity = evidence."""
    size, left, top = 22, 110, 110
    width, height = left + size * len(columns) + 10, top + size * len(rows) + 10
    most = max((c.boots for c in cells), default=1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="transition matrix" {_FONT}>'
    ]
    for j, column in enumerate(columns):
        x = left + j * size + size / 2
        out.append(
            f'<text x="{x}" y="{top - 6}" transform="rotate(-60 {x} {top - 6})">'
            f"{escape(column)}</text>"
        )
    for i, row in enumerate(rows):
        out.append(
            f'<text x="{left - 6}" y="{top + i * size + 15}" text-anchor="end">{escape(row)}</text>'
        )
    index = {(r, c): (i, j) for i, r in enumerate(rows) for j, c in enumerate(columns)}
    for cell in cells:
        i, j = index[(cell.row, cell.column)]
        opacity = 0.25 + 0.75 * math.log1p(cell.boots) / math.log1p(most)
        out.append(
            f'<a href="{escape(cell.href)}" class="cell" data-row="{escape(cell.row)}" '
            f'data-column="{escape(cell.column)}" data-boots="{cell.boots}">'
            f'<rect x="{left + j * size}" y="{top + i * size}" '
            f'width="{size - 2}" height="{size - 2}" fill="{_colour(cell.ratio)}" '
            f'fill-opacity="{opacity:.2f}" stroke="#999" stroke-width="0.5">'
            f"<title>{escape(cell.tip)}</title></rect></a>"
        )
    out.append("</svg>")
    return Markup("".join(out))


def intervals(points: Sequence[Interval], axis: str) -> Markup:
    """Rates with confidence bars, one column per label (predecessors or depths)."""
    width, height, left, bottom, top = 60 + 46 * len(points), 260, 60, 80, 20
    # Scale to the rates, not to the widest interval: a cell of three boots
    # would flatten the rest. Longer bars are cut at the top.
    peak = 1.5 * max((p.rate for p in points), default=0.0) or 1.0
    plot = height - bottom - top

    def y(value: float) -> float:
        return top + plot * (1 - min(value, peak) / peak)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(axis)}" {_FONT}>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#444"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{peak:.3g}</text>',
        f'<text x="{left - 6}" y="{height - bottom}" text-anchor="end">0</text>',
    ]
    for k, p in enumerate(points):
        x = left + 23 + 46 * k
        colour = "#c0392b" if p.highlight else "#2c3e50"
        base = height - bottom + 12
        label = (
            f'<text x="{x}" y="{base}" transform="rotate(45 {x} {base})">{escape(p.label)}</text>'
        )
        bar = (
            f'<line x1="{x}" y1="{y(p.low):.1f}" x2="{x}" y2="{y(p.high):.1f}" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<circle cx="{x}" cy="{y(p.rate):.1f}" r="4" fill="{colour}" class="point" '
            f'data-label="{escape(p.label)}" data-rate="{p.rate:.6g}"><title>{escape(p.label)}: '
            f"{p.rate:.3g} [{p.low:.3g}, {p.high:.3g}]</title></circle>"
        )
        out.append(f'<a href="{escape(p.href)}">{bar}</a>{label}' if p.href else bar + label)
    out.append(f'<text x="{width / 2}" y="{height - 4}" text-anchor="middle">{escape(axis)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def timeline(boots: Sequence[tuple[str, str, str, int]]) -> Markup:
    """A host's chain: one box per boot (release, how), crashes marked in red.

    ``boots`` holds (boot id, release, how, crashes) in boot order.
    """
    box, gap, height = 92, 34, 90
    width = 20 + len(boots) * (box + gap)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="boot chain" {_FONT}>'
    ]
    for k, (boot_id, release, how, crashes) in enumerate(boots):
        x = 10 + k * (box + gap)
        fill = "#fdecea" if crashes else ("#eef5ff" if how == "kexec" else "#f4f4f4")
        stroke = "#c0392b" if crashes else "#777"
        if k:
            out.append(
                f'<line x1="{x - gap}" y1="40" x2="{x}" y2="40" stroke="#777"/>'
                f'<text x="{x - gap / 2}" y="34" text-anchor="middle" font-size="8">'
                f"{escape(how)}</text>"
            )
        out.append(
            f'<g class="boot" data-boot="{escape(boot_id)}" data-crashes="{crashes}">'
            f'<rect x="{x}" y="15" width="{box}" height="50" rx="6" '
            f'fill="{fill}" stroke="{stroke}"/>'
            f'<text x="{x + box / 2}" y="37" text-anchor="middle">{escape(release)}</text>'
            f'<text x="{x + box / 2}" y="53" text-anchor="middle" font-size="9">{escape(how)}'
            f"{f' · {crashes} crash' + ('es' if crashes > 1 else '') if crashes else ''}</text>"
            f"<title>{escape(boot_id)}</title></g>"
        )
    out.append("</svg>")
    return Markup("".join(out))
