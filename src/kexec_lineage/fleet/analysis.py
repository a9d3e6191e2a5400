"""
Analysis
--------

Which transition (previous release -> release), which range of predecessor
versions and which chain depth raise crash rates, from the count tables of
:mod:`kexec_lineage.fleet.count_table` (whichever engine made them).

Rates are crashed boots per boot-hour (per boot where hours are unknown). For
every release the predecessors are compared with the exact stratified test of
:mod:`kexec_lineage.fleet.stats`, the strata being host class (platform x
region) and kexec-count bucket: a platform that merely upgraded first, or a
chain that is merely deeper, is not blamed on the predecessor. A cold boot is
the only predecessor at depth 0, so it is never the yardstick of a kexec
predecessor. The predecessors are bisected: ordered by version, the contiguous
range whose boots crash most clearly more often than the others' at the same
depth and class is the suspect, and its first release the first bad
predecessor. All p-values are Benjamini-Hochberg adjusted together; suspects
are ranked by rate ratios shrunk towards the fleet's rate (empirical Bayes).
A Poisson regression over the kexec count, adjusted for predecessor and host
class, finds depth effects; titles seen after kexec but never after a cold
boot are listed. The naive view, each release against all others ignoring
predecessors, is kept beside for comparison.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from kexec_lineage.fleet.count_table import CountRow, HostSpread, TitleRow, transitions_of
from kexec_lineage.fleet.stats import (
    Stratum,
    benjamini_hochberg,
    clopper_pearson,
    depth_trend,
    gamma_prior,
    mantel_haenszel_rr,
    stratified_exact_p,
)
from kexec_lineage.model.release import release_key
from kexec_lineage.model.transition import COLD, UNKNOWN, Transition

__all__ = (
    "MIN_HOSTS",
    "Q_LEVEL",
    "Analysis",
    "DepthFinding",
    "NaiveRelease",
    "Suspect",
    "analyze",
    "format_q",
    "hours_known",
    "rate_interval",
)

#: q-value at or below which a finding is reported.
Q_LEVEL = 0.05
# A range must hold at least this many comparable crashed boots to be a suspect.
_MIN_CRASHED = 3
#: Where the count tables come with their :class:`HostSpread`: a transition counts in
#: the tests only once booted on this many hosts, and a suspect range starts at a
#: predecessor whose crashed boots come from this many: one host, however many
#: boots it sends, neither makes a suspect nor moves the comparison.
MIN_HOSTS = 3
# Titles need this many crashed boots after kexec to be called kexec-only.
_MIN_TITLE_BOOTS = 3

StratumKey = tuple[str, str, int]  # platform, region, depth bucket
# stratum -> [crashed boots, boots, boot-hours]
Cell = dict[StratumKey, list[float]]


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
    buckets: tuple[tuple[int, int, int], ...]  # (depth bucket, crashed boots, boots)
    ratio_per_kexec: float
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
    transitions: tuple[Transition, ...]
    tests: int
    boots: int
    crashed_boots: int
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; infinities as ``null``. Each transition has its rate's 95%
        Clopper-Pearson interval (``rate_low``, ``rate_high``)."""
        out: dict[str, Any] = _finite(asdict(self))
        out["transitions"] = [
            t.as_dict() | dict(zip(("rate_low", "rate_high"), rate_interval(t), strict=True))
            for t in self.transitions
        ]
        return out


def rate_interval(transition: Transition) -> tuple[float, float]:
    """The 95% interval of the share of ``transition``'s boots that crashed."""
    return clopper_pearson(transition.crashed_boots, transition.boots)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isinf(value) or math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def hours_known(rows: Sequence[CountRow]) -> bool:
    """Whether boot-hours are recorded (else boots are the exposure)."""
    return sum(r.hours for r in rows) > 0


def _strata(exposed: Cell, others: Iterable[Cell], hours: bool) -> list[Stratum]:
    """Per stratum: crashed boots and exposure of ``exposed`` against all ``others``."""
    at = 2 if hours else 1
    strata: dict[StratumKey, list[float]] = defaultdict(lambda: [0, 0.0, 0, 0.0])
    for key, cell in exposed.items():
        strata[key][0] += cell[0]
        strata[key][1] += cell[at]
    for other in others:
        for key, cell in other.items():
            strata[key][2] += cell[0]
            strata[key][3] += cell[at]
    return [Stratum(int(x), e, int(y), f) for x, e, y, f in strata.values()]


def _totals(cells: Iterable[Cell]) -> tuple[int, int, float]:
    """Crashed boots, boots and boot-hours of ``cells`` together."""
    crashed = boots = 0
    hours = 0.0
    for cell in cells:
        for x, n, h in cell.values():
            crashed += int(x)
            boots += int(n)
            hours += h
    return crashed, boots, hours


def _comparable(strata: list[Stratum]) -> int:
    """Crashed boots of the exposed group in strata that compare anything."""
    return sum(s.crashed for s in strata if s.exposure > 0 and s.other_exposure > 0)


@dataclass
class _Candidate:
    release: str
    predecessors: tuple[str, ...]
    strata: list[Stratum]
    p: float
    counts: tuple[int, int, int, int] = (0, 0, 0, 0)  # crashed, boots; others' crashed, boots
    q: float = 1.0


def _by_release(rows: Sequence[CountRow]) -> dict[str, dict[str, Cell]]:
    """release -> predecessor -> stratum -> cell; kdump and unknown predecessors left out."""
    out: dict[str, dict[str, Cell]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(lambda: [0, 0, 0.0]))
    )
    for row in rows:
        if row.how == "kdump" or row.predecessor == UNKNOWN:
            continue
        cell = out[row.release][row.predecessor][(row.platform, row.region, row.depth)]
        cell[0] += row.crashed_boots
        cell[1] += row.boots
        cell[2] += row.hours
    return out


def _merge(cells: Iterable[Cell]) -> Cell:
    merged: Cell = defaultdict(lambda: [0, 0, 0.0])
    for cell in cells:
        for key, values in cell.items():
            for k in range(3):
                merged[key][k] += values[k]
    return merged


def _test(
    inside: Sequence[str], cells: dict[str, Cell], hours: bool
) -> tuple[list[Stratum], float] | None:
    """Strata and rate ratio of ``inside`` against the release's other
    predecessors; ``None`` where too few crashed boots compare anything, or
    they crash no more often. (The exact p is left to the caller: the range
    search needs it only for single predecessors and the final range.)"""
    strata = _strata(
        _merge(cells[p] for p in inside), (cells[p] for p in cells if p not in inside), hours
    )
    rr = mantel_haenszel_rr(strata)
    if _comparable(strata) < _MIN_CRASHED or rr <= 1:
        return None
    return strata, rr


def _belongs(
    candidate: str, inside: Sequence[str], rr: float, cells: dict[str, Cell], hours: bool
) -> bool:
    """Whether ``candidate``'s crashes are likelier at the range's elevated rate
    than at the outside's rate, stratum by stratum (a likelihood ratio above 1)."""
    outside = [cells[p] for p in cells if p not in inside and p != candidate]
    strata = _strata(cells[candidate], outside, hours)
    crashed = expected = 0.0
    for s in strata:
        if s.exposure > 0 and s.other_exposure > 0:
            crashed += s.crashed
            expected += s.exposure * s.other_crashed / s.other_exposure
    if expected <= 0 or rr <= 1:
        return False  # nothing to compare it with: no evidence that it belongs
    if math.isinf(rr):
        return crashed > 2 * expected
    return crashed * math.log(rr) > (rr - 1) * expected


def _best_range(
    release: str,
    cells: dict[str, Cell],
    hours: bool,
    crashed_hosts: Mapping[str, int] | None,
) -> _Candidate | None:
    """Bisection: from the single predecessor that stands out most (among those whose
    crashes several hosts share, where ``crashed_hosts`` says), grow the range along
    the version order while each neighbour's boots crash like the range's rather
    than like the rest."""
    ordered = sorted((p for p in cells if p != COLD), key=release_key)
    singles = [
        (stratified_exact_p(t[0]), i)
        for i, p in enumerate(ordered)
        if (crashed_hosts is None or crashed_hosts.get(p, 0) >= MIN_HOSTS)
        and (t := _test([p], cells, hours))
    ]
    if not singles:
        return None
    _, start = min(singles)
    low = high = start
    while True:
        inside = ordered[low : high + 1]
        tested = _test(inside, cells, hours)
        if tested is None:
            return None
        strata, rr = tested
        if low > 0 and _belongs(ordered[low - 1], inside, rr, cells, hours):
            low -= 1
        elif high + 1 < len(ordered) and _belongs(ordered[high + 1], inside, rr, cells, hours):
            high += 1
        else:
            break
    p = stratified_exact_p(strata)
    x, n, _ = _totals(cells[q] for q in inside)
    y, m, _ = _totals(cells[q] for q in cells if q not in inside)
    # The range grew from the most extreme of the predecessors: correct for that choice.
    return _Candidate(release, tuple(inside), strata, min(1.0, p * len(ordered)), (x, n, y, m))


def _title_of(candidate: _Candidate, titles: Sequence[TitleRow]) -> str | None:
    """The title with the largest excess of crashed boots in the range over the rest."""
    inside = set(candidate.predecessors)
    _, boots, _, other_boots = candidate.counts
    if not boots or not other_boots:
        return None
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in titles:
        if row.release != candidate.release or row.how == "kdump" or row.predecessor == UNKNOWN:
            continue
        counts[row.title][0 if row.predecessor in inside else 1] += row.crashed_boots
    excess = {title: x / boots - y / other_boots for title, (x, y) in counts.items() if x}
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
        f"boots, q{format_q(s.q)})"
    )


def format_q(q: float) -> str:
    """``=2e-09``, or ``<1e-300`` where the value underflowed to zero."""
    return "<1e-300" if q == 0 else f"={q:.1g}"


def _shrunk(strata: list[Stratum], prior: tuple[float, float]) -> float:
    """The rate ratio with both rates shrunk towards the fleet's (gamma-Poisson)."""
    shape, rate = prior
    x = sum(s.crashed for s in strata)
    e = sum(s.exposure for s in strata)
    y = sum(s.other_crashed for s in strata)
    f = sum(s.other_exposure for s in strata)
    return ((x + shape) / (e + rate)) / ((y + shape) / (f + rate))


def _depth(
    rows: Sequence[CountRow], hours: bool
) -> list[tuple[str, tuple[tuple[int, int, int], ...], float, float]]:
    """Per release: the buckets, the rate ratio per kexec and its p."""
    cells: dict[str, list[tuple[int, int, float, tuple[str, ...]]]] = defaultdict(list)
    buckets: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in rows:
        if row.how != "kexec" or row.predecessor == UNKNOWN:
            continue
        covariates = (f"pred:{row.predecessor}", f"class:{row.platform}/{row.region}")
        exposure = row.hours if hours else float(row.boots)
        cells[row.release].append((row.depth, row.crashed_boots, exposure, covariates))
        buckets[row.release][row.depth][0] += row.crashed_boots
        buckets[row.release][row.depth][1] += row.boots
    out = []
    for release, table in cells.items():
        if len(buckets[release]) < 3:
            continue
        ratio, p = depth_trend(table)
        ordered = tuple((d, x, n) for d, (x, n) in sorted(buckets[release].items()))
        out.append((release, ordered, ratio, p))
    return out


def _naive(rows: Sequence[CountRow], hours: bool) -> list[tuple[str, int, int, float, float]]:
    """Each release against all the others, one unstratified test each."""
    per: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for row in rows:
        if row.how != "kdump":
            per[row.release][0] += row.crashed_boots
            per[row.release][1] += row.boots
            per[row.release][2] += row.hours
    at = 2 if hours else 1
    crashed_all = sum(v[0] for v in per.values())
    exposure_all = sum(v[at] for v in per.values())
    out = []
    for release, v in per.items():
        stratum = Stratum(int(v[0]), v[at], int(crashed_all - v[0]), exposure_all - v[at])
        rr, p = mantel_haenszel_rr([stratum]), stratified_exact_p([stratum])
        out.append((release, int(v[0]), int(v[1]), rr, p))
    return out


def _kexec_only(titles: Sequence[TitleRow]) -> list[dict[str, Any]]:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in titles:
        per[row.title][0 if row.how == "cold" else 1] += row.crashed_boots
    return [
        {"title": title, "after_kexec": k, "after_cold": c}
        for title, (c, k) in sorted(per.items(), key=lambda kv: (-kv[1][1], kv[0]))
        if c == 0 and k >= _MIN_TITLE_BOOTS
    ]


def _suspect(c: _Candidate, prior: tuple[float, float], titles: Sequence[TitleRow]) -> Suspect:
    x, n, y, m = c.counts
    suspect = Suspect(
        release=c.release,
        predecessors=c.predecessors,
        first_bad_predecessor=c.predecessors[0],
        last_bad_predecessor=c.predecessors[-1],
        rate_ratio=mantel_haenszel_rr(c.strata),
        shrunk_rate_ratio=_shrunk(c.strata, prior),
        crashes=x,
        boots=n,
        other_crashes=y,
        other_boots=m,
        p=c.p,
        q=c.q,
        title=_title_of(c, titles),
        sentence="",
    )
    return replace(suspect, sentence=_sentence(suspect))


def analyze(
    counts: Sequence[CountRow],
    titles: Sequence[TitleRow],
    spread: Mapping[tuple[str, str], HostSpread] | None = None,
) -> Analysis:
    """Suspects, depth findings and the naive view of the fleet in ``counts``.

    :param spread: (release, predecessor) -> its :class:`HostSpread`, for data that
        hosts send (see :data:`MIN_HOSTS`); without it every boot counts alike.
    """
    listed = counts
    if spread is not None:
        none = HostSpread(0, 0)
        counts = [
            r for r in counts if spread.get((r.release, r.predecessor), none).hosts >= MIN_HOSTS
        ]
    hours = hours_known(counts)
    by_release = _by_release(counts)
    candidates = []
    for release, cells in by_release.items():
        crashed_hosts = None
        if spread is not None:
            crashed_hosts = {p: spread[(release, p)].crashed_hosts for p in cells}
        if candidate := _best_range(release, cells, hours, crashed_hosts):
            candidates.append(candidate)
    depth = _depth(counts, hours)
    naive = _naive(counts, hours)
    qs = benjamini_hochberg(
        [c.p for c in candidates] + [d[3] for d in depth] + [n[4] for n in naive]
    )
    for candidate, q in zip(candidates, qs, strict=False):
        candidate.q = q
    depth_q = qs[len(candidates) : len(candidates) + len(depth)]
    naive_q = qs[len(candidates) + len(depth) :]
    prior = gamma_prior(
        [
            (x, h if hours else float(n))
            for cells in by_release.values()
            for x, n, h in (_totals([cell]) for cell in cells.values())
        ]
    )
    suspects = sorted(
        (_suspect(c, prior, titles) for c in candidates if c.q <= Q_LEVEL),
        key=lambda s: (-s.shrunk_rate_ratio, s.q),
    )
    findings = [
        DepthFinding(
            release,
            buckets,
            ratio,
            p,
            q,
            f"{release} crashes {ratio:.3g}x more often with each kexec since the last cold "
            f"boot, predecessor and host class aside (p{format_q(p)}, q{format_q(q)})",
        )
        for (release, buckets, ratio, p), q in zip(depth, depth_q, strict=True)
        if q <= Q_LEVEL and ratio > 1
    ]
    naive_view = sorted(
        (NaiveRelease(r, x, n, rr, q) for (r, x, n, rr, _), q in zip(naive, naive_q, strict=True)),
        key=lambda v: (v.q, v.release),
    )
    return Analysis(
        suspects=tuple(suspects),
        depth=tuple(sorted(findings, key=lambda f: f.q)),
        naive=tuple(naive_view),
        kexec_only_titles=tuple(_kexec_only(titles)),
        transitions=tuple(
            transitions_of(r for r in listed if r.how != "kdump" and r.predecessor != UNKNOWN)
        ),
        tests=len(qs),
        boots=sum(r.boots for r in listed),
        crashed_boots=sum(r.crashed_boots for r in listed),
    )
