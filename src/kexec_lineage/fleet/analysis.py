"""
Analysis
--------

Which transition (previous release -> release), which range of predecessor
versions, which culprit kernel, which host facts and which chain depth raise
crash rates, and which predecessors make crashes come early, from the count
tables of :mod:`kexec_lineage.fleet.count_table` (whichever engine made them).

Rates are crashed boots per boot-hour (per boot where hours are unknown). For
every release the predecessors are compared with the exact stratified test of
:mod:`kexec_lineage.fleet.stats`, the strata being host class (the values of
the class facts, :data:`DEFAULT_CLASS` unless chosen) and kexec-count bucket:
a platform that merely upgraded first, or a chain that is merely deeper, is
not blamed on the predecessor. Exposure is weighed by the fleet's crash rate
on the day the boot started against all days' (:mod:`kexec_lineage.fleet.weighing`):
a fleet-wide incident of a few days raises the rates of whatever was rolled out
then, not of a transition
(stratifying by day did as well against incidents, but its strata of one day
lose the comparisons culprits and early crashes rest on). A cold boot is the
only predecessor at depth 0, so it is never the yardstick of a kexec
predecessor. The predecessors are
bisected (:mod:`kexec_lineage.fleet.cells`): the contiguous range whose boots
crash most clearly more often than the others' at the same depth and class is
the suspect, and its first release the first bad predecessor. The same search
runs within the hosts of every fact value (:mod:`kexec_lineage.fleet.fact_search`),
which finds bugs that only some hosts have; each predecessor is tested pooled
over the releases it kexecs into (:mod:`kexec_lineage.fleet.culprits`); and
the share of crashed boots that crashed early is tested like a rate. All
p-values are Benjamini-Hochberg adjusted together; suspects are ranked by
rate ratios shrunk towards the fleet's rate (empirical Bayes). A Poisson
regression over the kexec count, adjusted for predecessor and host class,
finds depth effects; a title is called a kexec title where its crashes after
kexec pass a test against those after cold boots of the same releases. The
naive view, each release against all others ignoring predecessors, is kept
beside for comparison.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from kexec_lineage.fleet.cells import Cells, Grid, Range, Releases, best_range
from kexec_lineage.fleet.count_table import (
    EARLY_SECONDS,
    CountRow,
    HostSpread,
    TitleRow,
)
from kexec_lineage.fleet.culprits import Pooled, pooled
from kexec_lineage.fleet.fact_search import Selection, concentration, contrasts, selections
from kexec_lineage.fleet.stats import (
    RatioSums,
    Strata,
    Stratum,
    benjamini_hochberg,
    clopper_pearson,
    depth_trend,
    gamma_prior,
    mantel_haenszel_rr,
    stratified_exact_p,
)
from kexec_lineage.fleet.weighing import MIN_HOSTS, Weighed, weigh
from kexec_lineage.model.transition import UNKNOWN, Transition
from kexec_lineage.model.wire import CLASS_FACTS

__all__ = (
    "DEFAULT_CLASS",
    "MIN_HOSTS",
    "Q_LEVEL",
    "Analysis",
    "Culprit",
    "DepthFinding",
    "EarlyFinding",
    "KexecTitle",
    "NaiveRelease",
    "OnlyOn",
    "Suspect",
    "analyze",
    "format_q",
    "rate_interval",
    "span",
)

#: q-value at or below which a finding is reported.
Q_LEVEL = 0.05
#: The facts whose values make a host's class, unless ``analyze --class`` says others.
DEFAULT_CLASS = CLASS_FACTS
# A fact value is "only on" where its excess sits there beyond a common ratio (a test
# of its own), its rate ratio is this many times the one outside, and this many of
# its crashed boots are compared.
_CONCENTRATED_RATIO = 2.0
_MIN_FOCUSED = 10
# A culprit raises its successors' crash rates by half at least: over many releases a
# slight excess is significant, yet says more of a few transitions than of a kernel.
_CULPRIT_RATIO = 1.5
# The cells' three numbers (see kexec_lineage.fleet.cells) for crash rates, and for the
# share of crashed boots that crashed early.
_RATES = ("crashed_boots", "boots", "hours")
_SHARES = ("early_crashed_boots", "crashed_boots", "crashed_boots")


@dataclass(frozen=True, slots=True)
class OnlyOn:
    """Hosts with ``fact=value`` (``same_as``: other facts naming the same hosts), where
    the transition's excess crashes sit; its own test's ``q``."""

    fact: str
    value: str
    same_as: tuple[str, ...]
    rate_ratio: float
    outside_rate_ratio: float
    crashes: int
    boots: int
    q: float


@dataclass(frozen=True, slots=True)
class Suspect:
    """A release that crashes more after kexec from a range of predecessors.

    ``crashes``/``boots`` and ``other_*`` are those of the strata the test compared;
    where the finding holds only on some hosts, those of the hosts in ``only_on[0]``.
    ``early_share``: of the range's crashed boots, the share that crashed early.
    ``explained_by``: the culprit predecessor this suspect is a case of.
    """

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
    only_on: tuple[OnlyOn, ...] = ()
    early_share: float | None = None
    explained_by: str | None = None


@dataclass(frozen=True, slots=True)
class Culprit:
    """A predecessor whose kexecs crash more into several releases than their others."""

    predecessor: str
    successors: tuple[str, ...]
    rate_ratio: float
    crashes: int
    boots: int
    other_crashes: int
    other_boots: int
    p: float
    q: float
    sentence: str


@dataclass(frozen=True, slots=True)
class EarlyFinding:
    """A release whose crashes come early after kexec from a range of predecessors."""

    release: str
    predecessors: tuple[str, ...]
    early_share: float
    other_early_share: float
    early: int
    crashed: int
    other_early: int
    other_crashed: int
    p: float
    q: float
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
class KexecTitle:
    """A crash title that strikes more after kexec than after cold boots of the same
    releases (crashed boots of each)."""

    title: str
    after_kexec: int
    after_cold: int
    rate_ratio: float
    q: float


@dataclass(frozen=True, slots=True)
class Analysis:
    suspects: tuple[Suspect, ...]
    culprits: tuple[Culprit, ...]
    early: tuple[EarlyFinding, ...]
    depth: tuple[DepthFinding, ...]
    naive: tuple[NaiveRelease, ...]
    kexec_titles: tuple[KexecTitle, ...]
    transitions: tuple[Transition, ...]
    tests: int
    boots: int
    crashed_boots: int
    class_facts: tuple[str, ...] = DEFAULT_CLASS
    early_minutes: float = EARLY_SECONDS / 60
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


def format_q(q: float) -> str:
    """``=2e-09``, or ``<1e-300`` where the value underflowed to zero."""
    return "<1e-300" if q == 0 else f"={q:.1g}"


def _times(rr: float) -> str:
    return "many times" if math.isinf(rr) else f"{rr:.3g}x"


def span(predecessors: Sequence[str]) -> str:
    """A range of predecessors as the reports spell it: ``7.1.3..7.1.5``, or one."""
    first, last = predecessors[0], predecessors[-1]
    return first if first == last else f"{first}..{last}"


class _Tests:
    """Every p-value of one analysis, adjusted together at the end."""

    def __init__(self) -> None:
        self.p: list[float] = []

    def add(self, p: float) -> int:
        self.p.append(p)
        return len(self.p) - 1

    def adjust(self) -> list[float]:
        return benjamini_hochberg(self.p)


@dataclass
class _Conditional:
    """A range found within the hosts of one selection, with its concentration."""

    selection: Selection
    found: Range
    outside_rate_ratio: float
    #: large and strong enough to be a finding of its own
    concentrated: bool
    #: the range's own test and its concentration test, in the analysis' tests
    test: int
    focus_test: int


def _search_facts(
    grid: Grid,
    fact_sets: Mapping[str, Mapping[str, str]],
    tests: _Tests,
) -> dict[str, list[_Conditional]]:
    """release -> the ranges found within each fact value's hosts."""
    out: dict[str, list[_Conditional]] = defaultdict(list)
    chosen_from = selections(fact_sets)
    for selection in chosen_from:
        chosen = grid.of_facts(selection.digests)
        within = grid.releases(_RATES, chosen)
        outside = grid.releases(_RATES, ~chosen)
        contrast = contrasts(within, outside)
        fleet = RatioSums.of(contrast.values())
        for release, cells in within.items():
            found = best_range(release, cells)
            if found is None:
                continue
            rr_out, p_focus = concentration(
                release, found.predecessors, outside.get(release), contrast, fleet
            )
            concentrated = (
                found.counts[0] >= _MIN_FOCUSED and found.rate_ratio >= _CONCENTRATED_RATIO * rr_out
            )
            out[release].append(
                _Conditional(
                    selection,
                    found,
                    rr_out,
                    concentrated,
                    tests.add(found.p),
                    # The selection where the excess sits was the best of many.
                    tests.add(min(1.0, p_focus * len(chosen_from))),
                )
            )
    return out


def _title_of(found: Range, titles: Sequence[TitleRow]) -> str | None:
    """The title with the largest excess of crashed boots in the range over the rest."""
    inside = set(found.predecessors)
    _, boots, _, other_boots = found.counts
    if not boots or not other_boots:
        return None
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in titles:
        if row.release != found.release or row.how == "kdump" or row.predecessor == UNKNOWN:
            continue
        counts[row.title][0 if row.predecessor in inside else 1] += row.crashed_boots
    excess = {title: x / boots - y / other_boots for title, (x, y) in counts.items() if x}
    return max(excess, key=lambda t: excess[t]) if excess else None


def _shrunk(strata: Strata, prior: tuple[float, float]) -> float:
    """The rate ratio with both rates shrunk towards the fleet's (gamma-Poisson)."""
    shape, rate = prior
    x, e, y, f = (float(column.sum()) for column in strata)
    return ((x + shape) / (e + rate)) / ((y + shape) / (f + rate))


def _suspect_sentence(s: Suspect) -> str:
    where = ""
    if s.only_on:
        o = s.only_on[0]
        where = f" on hosts with {o.fact}={o.value} ({_times(o.outside_rate_ratio)} elsewhere)"
    return (
        f"{s.release} crashes {_times(s.rate_ratio)} more often after kexec from "
        f"{span(s.predecessors)}{where} than from other predecessors in the same host "
        f"classes and kexec depths ({s.crashes:,}/{s.boots:,} vs "
        f"{s.other_crashes:,}/{s.other_boots:,} boots, q{format_q(s.q)})"
    )


def _only_on(conditional: _Conditional, q: float) -> OnlyOn:
    x, n, _, _ = conditional.found.counts
    return OnlyOn(
        conditional.selection.fact,
        conditional.selection.value,
        conditional.selection.same_as,
        conditional.found.rate_ratio,
        conditional.outside_rate_ratio,
        x,
        n,
        q,
    )


def _share(cells: Cells | None, inside: Iterable[str]) -> float | None:
    """Early crashed boots over crashed boots of ``inside``, all strata."""
    if cells is None:
        return None
    early, crashed, _ = cells.values[cells.mask(inside)].sum(axis=(0, 1))
    return float(early / crashed) if crashed else None


def _narrowest(found: list[_Conditional]) -> list[_Conditional]:
    """``found`` but the selections that hold another one's hosts and more with no larger
    a ratio: a bug of BIOS hosts, all of one vendor's model, is not "only on" the model."""
    return [
        wide
        for wide in found
        if not any(
            narrow is not wide
            and narrow.selection.digests < wide.selection.digests
            and narrow.found.rate_ratio >= wide.found.rate_ratio
            for narrow in found
        )
    ]


def _suspects(
    ranges: Mapping[str, tuple[Range, int]],
    conditional: Mapping[str, list[_Conditional]],
    qs: Sequence[float],
    *,
    prior: tuple[float, float],
    titles: Sequence[TitleRow],
    early_cells: Releases,
    culprits: Mapping[str, Culprit],
) -> list[Suspect]:
    """Fleet-wide suspects with the fact values their excess sits in, and the suspects
    found only within some hosts."""

    def q_of(c: _Conditional) -> float:
        return max(qs[c.test], qs[c.focus_test])

    out = []
    for release in sorted(set(ranges) | set(conditional)):
        focused = sorted(
            (c for c in conditional.get(release, ()) if c.concentrated and q_of(c) <= Q_LEVEL),
            key=lambda c: (qs[c.test], c.selection.fact),
        )
        wide = ranges.get(release)
        if wide is not None and qs[wide[1]] <= Q_LEVEL:
            found, q = wide[0], qs[wide[1]]
        elif focused:
            found, q = focused[0].found, qs[focused[0].test]
        else:
            continue
        overlapping = [c for c in focused if set(c.found.predecessors) & set(found.predecessors)]
        x, n, y, m = found.counts
        suspect = Suspect(
            release=release,
            predecessors=found.predecessors,
            first_bad_predecessor=found.predecessors[0],
            last_bad_predecessor=found.predecessors[-1],
            rate_ratio=found.rate_ratio,
            shrunk_rate_ratio=_shrunk(found.strata, prior),
            crashes=x,
            boots=n,
            other_crashes=y,
            other_boots=m,
            p=found.p,
            q=q,
            title=_title_of(found, titles),
            sentence="",
            only_on=tuple(_only_on(c, q_of(c)) for c in _narrowest(overlapping)),
            early_share=_share(early_cells.get(release), found.predecessors),
            explained_by=next((p for p in found.predecessors if p in culprits), None),
        )
        out.append(replace(suspect, sentence=_suspect_sentence(suspect)))
    return out


def _depth(
    rows: Sequence[CountRow], host_class: Mapping[str, str]
) -> list[tuple[str, tuple[tuple[int, int, int], ...], float, float]]:
    """Per release: the buckets, the rate ratio per kexec and its p."""
    cells: dict[str, list[tuple[int, int, float, tuple[str, ...]]]] = defaultdict(list)
    buckets: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in rows:
        if row.how != "kexec" or row.predecessor == UNKNOWN:
            continue
        covariates = (f"pred:{row.predecessor}", f"class:{host_class.get(row.facts, '')}")
        cells[row.release].append((row.depth, row.crashed_boots, row.hours, covariates))
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


def _naive(rows: Sequence[CountRow]) -> list[tuple[str, int, int, float, float]]:
    """Each release against all the others, one unstratified test each."""
    per: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for row in rows:
        if row.how != "kdump":
            per[row.release][0] += row.crashed_boots
            per[row.release][1] += row.boots
            per[row.release][2] += row.hours
    crashed_all = sum(v[0] for v in per.values())
    exposure_all = sum(v[2] for v in per.values())
    out = []
    for release, v in per.items():
        stratum = Stratum(int(v[0]), v[2], int(crashed_all - v[0]), exposure_all - v[2])
        rr, p = mantel_haenszel_rr([stratum]), stratified_exact_p([stratum])
        out.append((release, int(v[0]), int(v[1]), rr, p))
    return out


def _kexec_titles(
    rows: Sequence[CountRow], titles: Sequence[TitleRow]
) -> list[tuple[str, int, int, float, float]]:
    """Per title: crashed boots after kexec and after cold boots, and the rate ratio and
    p of kexec against cold, stratified by release."""
    exposure: dict[tuple[str, str], float] = defaultdict(float)
    for row in rows:
        if row.how in ("kexec", "cold"):
            exposure[(row.release, row.how)] += row.hours
    per: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for t in titles:
        if t.how in ("kexec", "cold"):
            per[t.title][t.release][0 if t.how == "kexec" else 1] += t.crashed_boots
    out = []
    for title, releases in per.items():
        strata = [
            Stratum(x, exposure[(r, "kexec")], y, exposure[(r, "cold")])
            for r, (x, y) in releases.items()
        ]
        kexec = sum(x for x, _ in releases.values())
        cold = sum(y for _, y in releases.values())
        out.append((title, kexec, cold, mantel_haenszel_rr(strata), stratified_exact_p(strata)))
    return out


def _culprit(found: Pooled, q: float) -> Culprit:
    x, n, y, m = found.counts
    names = ", ".join(found.successors)
    return Culprit(
        found.predecessor,
        found.successors,
        found.rate_ratio,
        x,
        n,
        y,
        m,
        found.p,
        q,
        f"{found.predecessor} is a culprit: the releases it kexecs into ({names}) crash "
        f"{_times(found.rate_ratio)} more often after it than after their other predecessors "
        f"in the same host classes and kexec depths ({x:,}/{n:,} vs {y:,}/{m:,} boots, "
        f"q{format_q(q)})",
    )


def _early(found: Range, q: float, cells: Cells, minutes: float) -> EarlyFinding:
    x, n, y, m = found.counts
    inside = _share(cells, found.predecessors) or 0.0
    others = _share(cells, [p for p in cells if p not in found.predecessors]) or 0.0
    return EarlyFinding(
        found.release,
        found.predecessors,
        inside,
        others,
        x,
        n,
        y,
        m,
        found.p,
        q,
        f"{found.release} crashes early after kexec from {span(found.predecessors)}: "
        f"{inside:.0%} of its crashed boots crashed within {minutes:g} minutes of boot, "
        f"against {others:.0%} after other predecessors in the same host classes and kexec "
        f"depths ({x:,}/{n:,} vs {y:,}/{m:,} crashed boots, q{format_q(q)})",
    )


def analyze(
    counts: Sequence[CountRow] | Weighed,
    titles: Sequence[TitleRow],
    spread: Mapping[tuple[str, str], HostSpread] | None = None,
    *,
    fact_sets: Mapping[str, Mapping[str, str]] | None = None,
    class_facts: Sequence[str] = DEFAULT_CLASS,
    early_seconds: float = EARLY_SECONDS,
) -> Analysis:
    """Suspects, culprits, early crashes, depth findings and the naive view of the
    fleet in ``counts`` (count rows, or rows already weighed where they are kept).

    :param spread: (release, predecessor) -> its :class:`HostSpread`, for data that
        hosts send (see :data:`MIN_HOSTS`); without it every boot counts alike.
    :param fact_sets: digest -> facts, what the rows' ``facts`` stand for; without it
        every host is of one class and no fact is searched.
    :param class_facts: the facts whose values make a host's class.
    :param early_seconds: the early window ``counts`` were made with (for the words).
    """
    weighed = counts if isinstance(counts, Weighed) else weigh(counts, spread)
    counts = weighed.rows
    sets = fact_sets or {}
    host_class = {d: "/".join(f.get(k, "") for k in class_facts) for d, f in sets.items()}

    def eligible(release: str, predecessor: str) -> bool:
        """Whether several hosts share the crashes of this transition (see MIN_HOSTS)."""
        if spread is None:
            return True
        # (.get: tables read one after the other may lose a transition in between.)
        return spread.get((release, predecessor), HostSpread(0, 0)).crashed_hosts >= MIN_HOSTS

    tests = _Tests()
    grid = Grid(counts, host_class)
    by_rate = grid.releases(_RATES)
    by_share = grid.releases(_SHARES)
    ranges = {}
    for release, cells in by_rate.items():
        if found := best_range(release, cells, functools.partial(eligible, release)):
            ranges[release] = (found, tests.add(found.p))
    conditional = _search_facts(grid, sets, tests)
    culprits = [(c, tests.add(c.p)) for c in pooled(by_rate, eligible)]
    early = []
    for release, cells in by_share.items():
        if found := best_range(release, cells, functools.partial(eligible, release)):
            early.append((found, tests.add(found.p)))
    minutes = early_seconds / 60
    depth = [(d, tests.add(d[3])) for d in _depth(counts, host_class)]
    naive = [(n, tests.add(n[4])) for n in _naive(counts)]
    kexec_titles = [(t, tests.add(t[4])) for t in _kexec_titles(counts, titles)]
    qs = tests.adjust()

    prior = gamma_prior(
        [(int(x), float(e)) for cells in by_rate.values() for x, _, e in cells.values.sum(axis=1)]
    )
    named = {
        c.predecessor: _culprit(c, qs[i])
        for c, i in culprits
        if qs[i] <= Q_LEVEL
        and len(c.successors) >= 2
        and c.rate_ratio >= _CULPRIT_RATIO
        and c.p_beyond <= Q_LEVEL
    }
    suspects = _suspects(
        ranges,
        conditional,
        qs,
        prior=prior,
        titles=titles,
        early_cells=by_share,
        culprits=named,
    )
    findings = [
        DepthFinding(
            release,
            buckets,
            ratio,
            p,
            qs[i],
            f"{release} crashes {ratio:.3g}x more often with each kexec since the last cold "
            f"boot, predecessor and host class aside (p{format_q(p)}, q{format_q(qs[i])})",
        )
        for (release, buckets, ratio, p), i in depth
        if qs[i] <= Q_LEVEL and ratio > 1
    ]
    naive_view = sorted(
        (NaiveRelease(r, x, n, rr, qs[i]) for (r, x, n, rr, _), i in naive),
        key=lambda v: (v.q, v.release),
    )
    return Analysis(
        suspects=tuple(sorted(suspects, key=lambda s: (-s.shrunk_rate_ratio, s.q))),
        culprits=tuple(sorted(named.values(), key=lambda c: (c.q, c.predecessor))),
        early=tuple(
            sorted(
                (
                    _early(f, qs[i], by_share[f.release], minutes)
                    for f, i in early
                    if qs[i] <= Q_LEVEL
                ),
                key=lambda e: (e.q, e.release),
            )
        ),
        depth=tuple(sorted(findings, key=lambda f: f.q)),
        naive=tuple(naive_view),
        kexec_titles=tuple(
            sorted(
                (
                    KexecTitle(t, k, c, rr, qs[i])
                    for (t, k, c, rr, _), i in kexec_titles
                    if qs[i] <= Q_LEVEL and rr > 1
                ),
                key=lambda t: (t.q, t.title),
            )
        ),
        transitions=tuple(weighed.transitions),
        tests=len(qs),
        boots=weighed.boots,
        crashed_boots=weighed.crashed_boots,
        class_facts=tuple(class_facts),
        early_minutes=minutes,
    )
