"""
Cells
-----

The count rows of one release, grouped by predecessor and stratum (host class
and kexec-count bucket), and the tests every finding of
:mod:`kexec_lineage.fleet.analysis` is made of: a group of predecessors
against the release's others, stratum by stratum, and the bisection that grows
a range of predecessors from the one that stands out most.

A cell holds three numbers, "events", "boots" and "exposure": crashed boots,
boots and boot-hours for crash rates; early crashed boots, crashed boots and
crashed boots again for the share of crashes that came early. The same tests
serve both.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from kexec_lineage.fleet.count_table import CountRow
from kexec_lineage.fleet.stats import Stratum, mantel_haenszel_rr, stratified_exact_p
from kexec_lineage.model.release import release_key
from kexec_lineage.model.transition import COLD, UNKNOWN

__all__ = (
    "MIN_EVENTS",
    "Cell",
    "Range",
    "Releases",
    "best_range",
    "by_release",
    "compared",
    "merge",
    "strata",
    "test",
)

#: A group must hold this many comparable events to be a finding.
MIN_EVENTS = 3

StratumKey = tuple[str, int]  # host class, depth bucket
#: stratum -> [events, boots, exposure]
Cell = dict[StratumKey, list[float]]
#: release -> predecessor -> cell
Releases = dict[str, dict[str, Cell]]


def _new_cell() -> Cell:
    return defaultdict(lambda: [0, 0, 0.0])


def by_release(
    rows: Iterable[CountRow],
    host_class: Mapping[str, str],
    measure: Callable[[CountRow], tuple[float, float, float]],
) -> Releases:
    """release -> predecessor -> stratum -> ``measure(row)`` summed; kdump boots and
    unknown predecessors are left out. ``host_class`` maps a row's fact set to its class."""
    out: Releases = defaultdict(lambda: defaultdict(_new_cell))
    for row in rows:
        if row.how == "kdump" or row.predecessor == UNKNOWN:
            continue
        cell = out[row.release][row.predecessor][(host_class.get(row.facts, ""), row.depth)]
        for k, value in enumerate(measure(row)):
            cell[k] += value
    return out


def merge(cells: Iterable[Cell]) -> Cell:
    merged = _new_cell()
    for cell in cells:
        for key, values in cell.items():
            for k in range(3):
                merged[key][k] += values[k]
    return merged


def strata(exposed: Cell, others: Iterable[Cell]) -> dict[StratumKey, Stratum]:
    """Per stratum: events and exposure of ``exposed`` against all ``others``."""
    sums: dict[StratumKey, list[float]] = defaultdict(lambda: [0, 0.0, 0, 0.0])
    for key, cell in exposed.items():
        sums[key][0] += cell[0]
        sums[key][1] += cell[2]
    for other in others:
        for key, cell in other.items():
            sums[key][2] += cell[0]
            sums[key][3] += cell[2]
    return {key: Stratum(int(x), e, int(y), f) for key, (x, e, y, f) in sums.items()}


def _comparing(keyed: Mapping[StratumKey, Stratum]) -> list[StratumKey]:
    return [k for k, s in keyed.items() if s.exposure > 0 and s.other_exposure > 0]


def compared(
    inside: Sequence[str], cells: Mapping[str, Cell], keyed: Mapping[StratumKey, Stratum]
) -> tuple[int, int, int, int]:
    """Events and boots of ``inside`` and of the others, in the strata that compare
    them only: the numbers the test rests on."""
    keys = set(_comparing(keyed))
    sums = [0.0, 0.0, 0.0, 0.0]
    for predecessor, cell in cells.items():
        at = 0 if predecessor in inside else 2
        for key, values in cell.items():
            if key in keys:
                sums[at] += values[0]
                sums[at + 1] += values[1]
    x, n, y, m = sums
    return int(x), int(n), int(y), int(m)


def test(
    inside: Sequence[str], cells: Mapping[str, Cell]
) -> tuple[dict[StratumKey, Stratum], float] | None:
    """Strata and rate ratio of ``inside`` against the release's other predecessors;
    ``None`` where too few events compare anything, or they are no more frequent.
    (The exact p is left to the caller: the range search needs it only for single
    predecessors and the final range.)"""
    keyed = strata(merge(cells[p] for p in inside), (cells[p] for p in cells if p not in inside))
    rr = mantel_haenszel_rr(list(keyed.values()))
    if sum(keyed[k].crashed for k in _comparing(keyed)) < MIN_EVENTS or rr <= 1:
        return None
    return keyed, rr


def _belongs(candidate: str, inside: Sequence[str], rr: float, cells: Mapping[str, Cell]) -> bool:
    """Whether ``candidate``'s events are likelier at the range's elevated rate than at
    the outside's rate, stratum by stratum (a likelihood ratio above 1)."""
    outside = [cells[p] for p in cells if p not in inside and p != candidate]
    events = expected = exposure = other_exposure = 0.0
    for s in strata(cells[candidate], outside).values():
        if s.exposure > 0 and s.other_exposure > 0:
            events += s.crashed
            expected += s.exposure * s.other_crashed / s.other_exposure
            exposure += s.exposure
            other_exposure += s.other_exposure
    if not exposure or rr <= 1:
        return False  # nothing to compare it with: no evidence that it belongs
    if expected <= 0:
        # The rest had no events where the candidate had some (an early bug's first
        # predecessor beside a successor whose crashes all come late): half an event
        # for the rest, so that its exposure still counts.
        expected = 0.5 * exposure / other_exposure
    if math.isinf(rr):
        return events > 2 * expected
    return events * math.log(rr) > (rr - 1) * expected


@dataclass(frozen=True, slots=True)
class Range:
    """A range of predecessors of ``release`` and its test against the others."""

    release: str
    predecessors: tuple[str, ...]
    strata: tuple[Stratum, ...]
    rate_ratio: float
    p: float
    #: events, boots of the range; of the others (comparable strata only)
    counts: tuple[int, int, int, int]


def best_range(
    release: str, cells: Mapping[str, Cell], eligible: Callable[[str], bool] = lambda _: True
) -> Range | None:
    """Bisection: from the single predecessor that stands out most (among the
    ``eligible``), grow the range along the version order while each neighbour's
    boots behave like the range's rather than like the rest."""
    ordered = sorted((p for p in cells if p != COLD), key=release_key)
    singles = [
        (stratified_exact_p(list(t[0].values())), i, t)
        for i, p in enumerate(ordered)
        if eligible(p) and (t := test([p], cells))
    ]
    if not singles:
        return None
    _, start, (keyed, rr) = min(singles, key=lambda single: single[:2])
    low = high = start
    while True:
        inside = ordered[low : high + 1]
        # A neighbour joins where it belongs and leaves the others something to compare.
        for lo, hi, neighbour in ((low - 1, high, low - 1), (low, high + 1, high + 1)):
            if 0 <= neighbour < len(ordered) and _belongs(ordered[neighbour], inside, rr, cells):
                grown = test(ordered[lo : hi + 1], cells)
                if grown is not None:
                    low, high, (keyed, rr) = lo, hi, grown
                    break
        else:
            break
    p = stratified_exact_p(list(keyed.values()))
    # The range grew from the most extreme of the predecessors: correct for that choice.
    return Range(
        release,
        tuple(inside),
        tuple(keyed.values()),
        rr,
        min(1.0, p * len(ordered)),
        compared(inside, cells, keyed),
    )
