"""
Analysis
--------

Which transition (previous release -> release), which range of predecessor
versions and which chain depth raise crash rates, from the count tables of
:mod:`kexec_lineage.fleet.counts` (whichever engine made them).

For every release, each predecessor (a cold boot included) is tested against
the release's other predecessors with the exact stratified test of
:mod:`kexec_lineage.fleet.stats`, the strata being host classes (platform x
region), so that a platform that merely upgraded first is not blamed on its
predecessor. The predecessors are then bisected: ordered by version, the
contiguous range whose boots crash most clearly more often than the rest is
the suspect, and its first release the first bad predecessor. All p-values are
Benjamini-Hochberg adjusted together; small cells are ranked by rate ratios
shrunk towards the fleet's rate (empirical Bayes). A trend test over kexec
count finds depth effects, and titles seen after kexec but never after a cold
boot are listed. The naive view, each release against all others ignoring
predecessors, is kept beside for comparison.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from kexec_lineage.fleet.counts import COLD, UNKNOWN, CountRow, TitleRow
from kexec_lineage.fleet.stats import (
    Stratum,
    beta_prior,
    bh,
    clopper_pearson,
    mantel_haenszel_rr,
    stratified_exact_p,
    trend_p,
)
from kexec_lineage.model.release import release_key

__all__ = ("Q_LEVEL", "Analysis", "DepthFinding", "NaiveRelease", "Suspect", "analyze")

#: q-value at or below which a finding is reported.
Q_LEVEL = 0.05
# A range must hold at least this many crashed boots to be a suspect.
_MIN_CRASHED = 3
# Titles need this many crashed boots after kexec to be called kexec-only.
_MIN_TITLE_BOOTS = 3

Cell = dict[tuple[str, str], list[int]]  # (platform, region) -> [crashed, boots]


@dataclass(frozen=True, slots=True)
class Suspect:
    """A release that crashes more after kexec from a range of predecessors."""

    release: str
    predecessors: tuple[str, ...]
    first_bad_predecessor: str
    last_bad_predecessor: str
    rate_ratio: float
    shrunk_rate_ratio: float
    crashes: int
    boots: int
    other_crashes: int
    other_boots: int
    p: float
    q: float
    title: str | None
    sentence: str


@dataclass(frozen=True, slots=True)
class DepthFinding:
    """A release whose crash rate rises with the kexec count."""

    release: str
    buckets: tuple[tuple[int, int, int], ...]  # (depth, crashed boots, boots)
    ratio: float
    p: float
    q: float
    sentence: str


@dataclass(frozen=True, slots=True)
class NaiveRelease:
    """A release against all others, predecessors ignored."""

    release: str
    crashes: int
    boots: int
    rate_ratio: float
    q: float


@dataclass(frozen=True, slots=True)
class Analysis:
    suspects: tuple[Suspect, ...]
    depth: tuple[DepthFinding, ...]
    naive: tuple[NaiveRelease, ...]
    kexec_only_titles: tuple[dict[str, Any], ...]
    transitions: tuple[dict[str, Any], ...]
    tests: int
    boots: int
    crashed_boots: int
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """JSON-ready; infinities as ``null``."""
        out: dict[str, Any] = _finite(asdict(self))
        return out


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isinf(value) or math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _strata(exposed: Cell, others: Iterable[Cell]) -> list[Stratum]:
    classes: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for key, (x, n) in exposed.items():
        classes[key][0] += x
        classes[key][1] += n
    for cell in others:
        for key, (x, n) in cell.items():
            classes[key][2] += x
            classes[key][3] += n
    return [Stratum(*v) for v in classes.values()]


def _totals(cells: Iterable[Cell]) -> tuple[int, int]:
    crashed = boots = 0
    for cell in cells:
        for x, n in cell.values():
            crashed += x
            boots += n
    return crashed, boots


@dataclass
class _Candidate:
    release: str
    predecessors: tuple[str, ...]
    strata: list[Stratum]
    p: float
    q: float = 1.0


def _by_release(rows: Sequence[CountRow]) -> dict[str, dict[str, Cell]]:
    """release -> predecessor -> class -> [crashed, boots], kdump and unknown left out."""
    out: dict[str, dict[str, Cell]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(lambda: [0, 0]))
    )
    for row in rows:
        if row.how == "kdump" or row.predecessor == UNKNOWN:
            continue
        cell = out[row.release][row.predecessor][(row.platform, row.region)]
        cell[0] += row.crashed_boots
        cell[1] += row.boots
    return out


def _best_range(release: str, cells: dict[str, Cell]) -> _Candidate | None:
    """The contiguous range of predecessors (by version) with the smallest exact p."""
    ordered = sorted((p for p in cells if p != COLD), key=release_key)
    best: _Candidate | None = None
    for i in range(len(ordered)):
        for j in range(i, len(ordered)):
            inside = ordered[i : j + 1]
            merged: Cell = defaultdict(lambda: [0, 0])
            for pred in inside:
                for key, (x, n) in cells[pred].items():
                    merged[key][0] += x
                    merged[key][1] += n
            crashed, _ = _totals([merged])
            if crashed < _MIN_CRASHED:
                continue
            strata = _strata(merged, (cells[p] for p in cells if p not in inside))
            if mantel_haenszel_rr(strata) <= 1:
                continue
            p = stratified_exact_p(strata)
            if best is None or p < best.p:
                best = _Candidate(release, tuple(inside), strata, p)
    if best is not None:
        # The best of many overlapping ranges: correct for the search, counting
        # the predecessors (the ranges are far from independent).
        best.p = min(1.0, best.p * len(ordered))
    return best


def _title_of(candidate: _Candidate, titles: Sequence[TitleRow]) -> str | None:
    """The title with the largest excess of crashed boots in the range over the rest."""
    inside = set(candidate.predecessors)
    exposed_boots = sum(s.boots for s in candidate.strata)
    other_boots = sum(s.other_boots for s in candidate.strata)
    if not exposed_boots or not other_boots:
        return None
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in titles:
        if row.release != candidate.release or row.how == "kdump" or row.predecessor == UNKNOWN:
            continue
        counts[row.title][0 if row.predecessor in inside else 1] += row.crashed_boots
    excess = {title: x / exposed_boots - y / other_boots for title, (x, y) in counts.items() if x}
    return max(excess, key=lambda t: excess[t]) if excess else None


def _sentence(s: Suspect) -> str:
    span = (
        s.first_bad_predecessor
        if s.first_bad_predecessor == s.last_bad_predecessor
        else f"{s.first_bad_predecessor}..{s.last_bad_predecessor}"
    )
    times = "many times" if math.isinf(s.rate_ratio) else f"{s.rate_ratio:.3g}x"
    return (
        f"{s.release} crashes {times} more often after kexec from {span} than from other "
        f"predecessors ({s.crashes:,}/{s.boots:,} vs {s.other_crashes:,}/{s.other_boots:,} "
        f"boots, q={s.q:.1g})"
    )


def _shrunk(strata: list[Stratum], prior: tuple[float, float]) -> float:
    a, b = prior
    x = sum(s.crashed for s in strata)
    n = sum(s.boots for s in strata)
    y = sum(s.other_crashed for s in strata)
    m = sum(s.other_boots for s in strata)
    return ((x + a) / (n + a + b)) / ((y + a) / (m + a + b))


def _depth(
    rows: Sequence[CountRow],
) -> list[tuple[str, tuple[tuple[int, int, int], ...], float, float]]:
    table: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in rows:
        if row.how == "kdump":
            continue
        cell = table[row.release][row.depth]
        cell[0] += row.crashed_boots
        cell[1] += row.boots
    out = []
    for release, buckets in table.items():
        ordered = tuple((d, x, n) for d, (x, n) in sorted(buckets.items()) if n)
        if len(ordered) < 3:
            continue
        low, high = ordered[0], ordered[-1]
        ratio = (high[1] / high[2]) / (low[1] / low[2]) if low[1] else math.inf
        out.append((release, ordered, ratio, trend_p(ordered)))
    return out


def _naive(rows: Sequence[CountRow]) -> list[tuple[str, int, int, float, float]]:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        if row.how != "kdump":
            per[row.release][0] += row.crashed_boots
            per[row.release][1] += row.boots
    crashed_all = sum(x for x, _ in per.values())
    boots_all = sum(n for _, n in per.values())
    out = []
    for release, (x, n) in per.items():
        stratum = Stratum(x, n, crashed_all - x, boots_all - n)
        out.append((release, x, n, mantel_haenszel_rr([stratum]), stratified_exact_p([stratum])))
    return out


def _kexec_only(titles: Sequence[TitleRow]) -> list[dict[str, Any]]:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in titles:
        per[row.title][0 if row.how == "cold" else 1] += row.crashed_boots
    return [
        {"title": title, "after_kexec": k, "after_cold": c}
        for title, (c, k) in sorted(per.items(), key=lambda kv: -kv[1][1])
        if c == 0 and k >= _MIN_TITLE_BOOTS
    ]


def _transitions(by_release: dict[str, dict[str, Cell]]) -> list[dict[str, Any]]:
    out = []
    for release in sorted(by_release, key=release_key):
        for predecessor in sorted(by_release[release], key=release_key):
            x, n = _totals([by_release[release][predecessor]])
            low, high = clopper_pearson(x, n)
            out.append(
                {
                    "release": release,
                    "predecessor": predecessor,
                    "crashed_boots": x,
                    "boots": n,
                    "rate": x / n if n else 0.0,
                    "rate_low": low,
                    "rate_high": high,
                }
            )
    return out


def analyze(counts: Sequence[CountRow], titles: Sequence[TitleRow]) -> Analysis:
    """Suspects, depth findings and the naive view of the fleet in ``counts``."""
    by_release = _by_release(counts)
    candidates = [c for r, cells in by_release.items() if (c := _best_range(r, cells))]
    depth = _depth(counts)
    naive = _naive(counts)
    qs = bh([c.p for c in candidates] + [d[3] for d in depth] + [n[4] for n in naive])
    for candidate, q in zip(candidates, qs, strict=False):
        candidate.q = q
    depth_q = qs[len(candidates) : len(candidates) + len(depth)]
    naive_q = qs[len(candidates) + len(depth) :]
    prior = beta_prior(
        [_totals([cell]) for cells in by_release.values() for cell in cells.values()]
    )
    suspects = []
    for c in candidates:
        if c.q > Q_LEVEL:
            continue
        x = sum(s.crashed for s in c.strata)
        n = sum(s.boots for s in c.strata)
        suspect = Suspect(
            release=c.release,
            predecessors=c.predecessors,
            first_bad_predecessor=c.predecessors[0],
            last_bad_predecessor=c.predecessors[-1],
            rate_ratio=mantel_haenszel_rr(c.strata),
            shrunk_rate_ratio=_shrunk(c.strata, prior),
            crashes=x,
            boots=n,
            other_crashes=sum(s.other_crashed for s in c.strata),
            other_boots=sum(s.other_boots for s in c.strata),
            p=c.p,
            q=c.q,
            title=_title_of(c, titles),
            sentence="",
        )
        suspects.append(_with_sentence(suspect))
    suspects.sort(key=lambda s: (-s.shrunk_rate_ratio, s.q))
    findings = [
        DepthFinding(
            release,
            buckets,
            ratio,
            p,
            q,
            f"{release} crashes {ratio:.3g}x more often at kexec count {buckets[-1][0]}+ than "
            f"at {buckets[0][0]} (trend p={p:.1g}, q={q:.1g})",
        )
        for (release, buckets, ratio, p), q in zip(depth, depth_q, strict=True)
        if q <= Q_LEVEL
    ]
    naive_view = sorted(
        (NaiveRelease(r, x, n, rr, q) for (r, x, n, rr, _), q in zip(naive, naive_q, strict=True)),
        key=lambda v: (v.q, v.release),
    )
    boots = sum(r.boots for r in counts)
    crashed = sum(r.crashed_boots for r in counts)
    return Analysis(
        suspects=tuple(suspects),
        depth=tuple(sorted(findings, key=lambda f: f.q)),
        naive=tuple(naive_view),
        kexec_only_titles=tuple(_kexec_only(titles)),
        transitions=tuple(_transitions(by_release)),
        tests=len(qs),
        boots=boots,
        crashed_boots=crashed,
    )


def _with_sentence(suspect: Suspect) -> Suspect:
    return replace(suspect, sentence=_sentence(suspect))
