"""
Charts
------

The dashboard's charts as SVG drawn on the server: nothing is fetched from the
network, and every label passes through :func:`markupsafe.escape` (release
names, predecessor names and titles come from hosts and logs, so they are
attacker-controlled). Plain SVG elements are written here rather than pulled
in from a plotting library: the chart shapes are small, and a library
would mean JavaScript or a font cache in the collector.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = (
    "Bar",
    "HeatCell",
    "Interval",
    "Series",
    "day_lines",
    "heatmap",
    "intervals",
    "ratio_bars",
    "timeline",
)

_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _svg_root(width: float, height: float, label: str) -> str:
    """The opening tag of every chart: an image of ``label``, in the pages' font."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(label)}" {_FONT}>'
    )


#: Line colours, told apart also by people who do not see red and green apart
#: (Okabe and Ito's palette).
_PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")


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
    out = [_svg_root(width, height, "transition matrix")]
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
        _svg_root(width, height, axis),
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
    out = [_svg_root(width, height, "boot chain")]
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


@dataclass(frozen=True, slots=True)
class Series:
    """One line of :func:`day_lines`: ``points`` holds (day, value, tooltip) by day."""

    label: str
    points: Sequence[tuple[int, float, str]]


def _ticks(peak: float, n: int = 4) -> list[float]:
    """``n`` + 1 round values from 0 to at least ``peak`` (1, 2 or 5 times a power of ten)."""
    raw = peak / n if peak > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [step * k for k in range(n + 1)]


def _svg_open(width: float, height: float, title: str) -> str:
    """:func:`_svg_root` of a chart with a title, shown and for screen readers."""
    return (
        f"{_svg_root(width, height, title)}<title>{escape(title)}</title>"
        f'<text class="chart-title" x="{width / 2}" y="16" text-anchor="middle" '
        f'font-size="13" font-weight="bold">{escape(title)}</text>'
    )


def day_lines(
    series: Sequence[Series], title: str, axis: str, day_label: Callable[[int], str]
) -> Markup:
    """Values over days, one line per series, with a legend; a day missing from a
    series breaks its line rather than bridging the gap. ``axis`` names the values,
    ``day_label`` spells a day on the time axis."""
    width, height, left, right, top, bottom = 820, 300, 64, 170, 30, 48
    days = [d for s in series for d, _, _ in s.points]
    first, last = (min(days), max(days)) if days else (0, 1)
    span = max(last - first, 1)
    ticks = _ticks(max((v for s in series for _, v, _ in s.points), default=0.0))
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(day: int) -> float:
        return left + plot_w * (day - first) / span

    def y(value: float) -> float:
        return top + plot_h * (1 - value / ticks[-1])

    out = [
        _svg_open(width, height, title),
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'stroke="#444"/><line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" '
        f'stroke="#444"/>',
    ]
    for value in ticks:
        out.append(
            f'<line x1="{left}" y1="{y(value):.1f}" x2="{left + plot_w}" y2="{y(value):.1f}" '
            f'stroke="#eee"/><text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end">'
            f"{value:.3g}</text>"
        )
    for k in range(6):
        day = first + round(span * k / 5)
        out.append(
            f'<text class="x-tick" x="{x(day):.1f}" y="{top + plot_h + 16}" '
            f'text-anchor="middle">{escape(day_label(day))}</text>'
        )
    out.append(
        f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle">day (UTC)</text>'
        f'<text x="14" y="{top + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_h / 2})">{escape(axis)}</text>'
    )
    for k, line in enumerate(series):
        colour = _PALETTE[k % len(_PALETTE)]
        path, previous = [], None
        for day, value, _ in line.points:
            step = "L" if previous is not None and day == previous + 1 else "M"
            path.append(f"{step}{x(day):.1f},{y(value):.1f}")
            previous = day
        dots = "".join(
            f'<circle cx="{x(day):.1f}" cy="{y(value):.1f}" r="2" fill="{colour}">'
            f"<title>{escape(tip)}</title></circle>"
            for day, value, tip in line.points
        )
        ly = top + 10 + 18 * k
        out.append(
            f'<g class="series" data-label="{escape(line.label)}" data-points="{len(line.points)}">'
            f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
            f"{dots}</g>"
            f'<g class="legend"><line x1="{width - right + 14}" y1="{ly}" '
            f'x2="{width - right + 34}" y2="{ly}" stroke="{colour}" stroke-width="3"/>'
            f'<text x="{width - right + 40}" y="{ly + 4}">{escape(line.label)}</text></g>'
        )
    out.append("</svg>")
    return Markup("".join(out))


@dataclass(frozen=True, slots=True)
class Bar:
    """One finding of :func:`ratio_bars`: its rate ratio and the counts behind it."""

    label: str
    ratio: float
    evidence: str
    kind: str  # "suspect" or "culprit"
    href: str = ""


def ratio_bars(bars: Sequence[Bar], title: str) -> Markup:
    """Rate ratios as horizontal bars on a log scale from 1x, each labelled with its
    evidence: a ratio of 40x on 3 crashes reads differently from 4x on 3,000. An
    infinite ratio (no crash elsewhere) fills the bar and reads "inf"."""
    row, left, right, top = 22, 230, 330, 40
    width, height = 900, top + row * len(bars) + 34
    finite = [b.ratio for b in bars if math.isfinite(b.ratio) and b.ratio > 1]
    peak = 2 ** math.ceil(math.log2(max(finite, default=2.0)))
    plot_w = width - left - right

    def x(ratio: float) -> float:
        if not math.isfinite(ratio):
            return left + plot_w
        return left + plot_w * math.log(max(ratio, 1.0)) / math.log(peak)

    out = [_svg_open(width, height, title)]
    base = top + row * len(bars)
    tick = 1
    while tick <= peak:
        out.append(
            f'<line x1="{x(tick):.1f}" y1="{top - 4}" x2="{x(tick):.1f}" y2="{base}" '
            f'stroke="#eee"/><text x="{x(tick):.1f}" y="{base + 14}" text-anchor="middle">'
            f"{tick}x</text>"
        )
        tick *= 2
    out.append(
        f'<text x="{left + plot_w / 2}" y="{base + 28}" text-anchor="middle">'
        f"rate ratio against the other boots of the release (log scale)</text>"
    )
    for k, bar in enumerate(bars):
        y = top + row * k
        colour = "#c0392b" if bar.kind == "suspect" else "#8e44ad"
        shown = f"{bar.ratio:.3g}x" if math.isfinite(bar.ratio) else "inf"
        body = (
            f'<g class="bar" data-kind="{escape(bar.kind)}" data-label="{escape(bar.label)}" '
            f'data-ratio="{bar.ratio:.6g}">'
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{escape(bar.label)}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{max(x(bar.ratio) - left, 1):.1f}" '
            f'height="{row - 6}" fill="{colour}"><title>{escape(bar.label)}: {shown}, '
            f"{escape(bar.evidence)}</title></rect>"
            f'<text class="evidence" x="{x(bar.ratio) + 6:.1f}" y="{y + 14}">{shown} · '
            f"{escape(bar.evidence)}</text></g>"
        )
        out.append(f'<a href="{escape(bar.href)}">{body}</a>' if bar.href else body)
    out.append("</svg>")
    return Markup("".join(out))
