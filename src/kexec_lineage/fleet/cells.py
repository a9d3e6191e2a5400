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

The cells are arrays (predecessor x stratum x the three numbers), filled from
the count rows in one pass per grouping (:class:`Grid`): an analysis groups the
same rows some twenty times (by rate, by share, within and outside every fact
value), and thousands of tests each sum a release's strata, which NumPy does a
whole release at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kexec_lineage.fleet.count_table import CountRow
from kexec_lineage.fleet.stats import Strata, mantel_haenszel_rr, stratified_exact_p
from kexec_lineage.model.release import release_key
from kexec_lineage.model.transition import COLD, UNKNOWN

__all__ = (
    "MIN_EVENTS",
    "Cells",
    "Grid",
    "Range",
    "Releases",
    "best_range",
    "compared",
    "strata",
    "test",
)

#: A group must hold this many comparable events to be a finding.
MIN_EVENTS = 3

#: The count row fields a cell's three numbers may be made of.
Measure = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Cells:
    """One release: ``values[i, s]`` holds the events, boots and exposure of
    ``predecessors[i]`` in stratum ``s`` (the strata of the :class:`Grid`)."""

    predecessors: tuple[str, ...]
    values: NDArray[np.float64]

    def __iter__(self) -> Iterator[str]:
        return iter(self.predecessors)

    def __contains__(self, predecessor: object) -> bool:
        return predecessor in self.predecessors

    def __len__(self) -> int:
        return len(self.predecessors)

    def mask(self, inside: Iterable[str]) -> NDArray[np.bool_]:
        """Which rows are the predecessors ``inside`` (those of them that are here)."""
        chosen = set(inside)
        return np.array([p in chosen for p in self.predecessors], dtype=bool)

    def split(self, inside: Iterable[str]) -> Strata:
        """Per stratum: the predecessors ``inside`` (those here) against the others."""
        where = self.mask(inside)
        return strata(self.values[where].sum(axis=0), self.values[~where].sum(axis=0))

    def of(self, predecessor: str) -> NDArray[np.float64]:
        """One predecessor's strata x numbers."""
        row: NDArray[np.float64] = self.values[self.predecessors.index(predecessor)]
        return row


#: release -> its cells
Releases = dict[str, Cells]


class Grid:
    """The count rows of boots with a known predecessor (kdump boots aside), indexed
    once by release, predecessor, stratum and fact set, to be grouped many ways."""

    def __init__(self, rows: Iterable[CountRow], host_class: Mapping[str, str]) -> None:
        kept = [r for r in rows if r.how != "kdump" and r.predecessor != UNKNOWN]
        self._releases: dict[str, int] = {}
        self._predecessors: dict[str, int] = {}
        self._strata: dict[tuple[str, int], int] = {}
        self._facts: dict[str, int] = {}

        def codes(names: dict[Any, int], keys: Iterable[Any]) -> NDArray[np.int64]:
            return np.array([names.setdefault(k, len(names)) for k in keys], dtype=np.int64)

        self.release = codes(self._releases, (r.release for r in kept))
        self.predecessor = codes(self._predecessors, (r.predecessor for r in kept))
        self.stratum = codes(self._strata, ((host_class.get(r.facts, ""), r.depth) for r in kept))
        self.facts = codes(self._facts, (r.facts for r in kept))
        self._columns = {
            name: np.array([getattr(r, name) for r in kept], dtype=np.float64)
            for name in ("boots", "hours", "crashed_boots", "early_crashed_boots")
        }

    def of_facts(self, digests: Iterable[str]) -> NDArray[np.bool_]:
        """Which rows ran with one of the fact sets ``digests``."""
        codes = [self._facts[d] for d in digests if d in self._facts]
        return np.isin(self.facts, codes)

    def releases(self, measure: Measure, where: NDArray[np.bool_] | None = None) -> Releases:
        """release -> its cells of the rows ``where`` says (all without it), each cell's
        three numbers the row fields ``measure`` names, summed; releases and their
        predecessors in the order the rows first name them."""
        chosen = np.arange(len(self.release)) if where is None else np.flatnonzero(where)
        if not len(chosen):
            return {}
        n_predecessors, n_strata = len(self._predecessors), len(self._strata)
        pair = self.release[chosen] * n_predecessors + self.predecessor[chosen]
        pairs, first, slot = np.unique(pair, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        flat = rank[slot.ravel()] * n_strata + self.stratum[chosen]
        values: NDArray[np.float64] = (
            np.stack(
                [
                    np.bincount(
                        flat, weights=self._columns[name][chosen], minlength=len(pairs) * n_strata
                    )
                    for name in measure
                ],
                axis=-1,
            )
            .reshape(len(pairs), n_strata, 3)
            .astype(np.float64)
        )
        release_names = list(self._releases)
        predecessor_names = list(self._predecessors)
        grouped: dict[str, list[int]] = {}
        for position, pair_code in enumerate(pairs[order]):
            grouped.setdefault(release_names[pair_code // n_predecessors], []).append(position)
        return {
            release: Cells(
                tuple(predecessor_names[pairs[order][i] % n_predecessors] for i in positions),
                values[positions],
            )
            for release, positions in grouped.items()
        }


def strata(exposed: NDArray[np.float64], others: NDArray[np.float64]) -> Strata:
    """Per stratum: events and exposure of ``exposed`` against ``others`` (both
    strata x numbers)."""
    return Strata(exposed[:, 0], exposed[:, 2], others[:, 0], others[:, 2])


def compared(inside: Sequence[str], cells: Cells, keyed: Strata) -> tuple[int, int, int, int]:
    """Events and boots of ``inside`` and of the others, in the strata that compare
    them only: the numbers the test rests on."""
    where = cells.mask(inside)
    comparing = cells.values[:, keyed.comparing()]
    x, n = comparing[where].sum(axis=(0, 1))[:2]
    y, m = comparing[~where].sum(axis=(0, 1))[:2]
    return int(x), int(n), int(y), int(m)


def test(inside: Sequence[str], cells: Cells) -> tuple[Strata, float] | None:
    """Strata and rate ratio of ``inside`` against the release's other predecessors;
    ``None`` where too few events compare anything, or they are no more frequent.
    (The exact p is left to the caller: the range search needs it only for single
    predecessors and the final range.)"""
    keyed = cells.split(inside)
    rr = mantel_haenszel_rr(keyed)
    if keyed.crashed[keyed.comparing()].sum() < MIN_EVENTS or rr <= 1:
        return None
    return keyed, rr


def _belongs(candidate: str, inside: Sequence[str], rr: float, cells: Cells) -> bool:
    """Whether ``candidate``'s events are likelier at the range's elevated rate than at
    the outside's rate, stratum by stratum (a likelihood ratio above 1)."""
    outside = ~cells.mask([*inside, candidate])
    s = strata(cells.of(candidate), cells.values[outside].sum(axis=0))
    comparing = s.comparing()
    events = float(s.crashed[comparing].sum())
    exposure = float(s.exposure[comparing].sum())
    other_exposure = float(s.other_exposure[comparing].sum())
    e, y, f = s.exposure[comparing], s.other_crashed[comparing], s.other_exposure[comparing]
    expected = float((e * y / f).sum())
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


@dataclass(frozen=True, slots=True, eq=False)
class Range:
    """A range of predecessors of ``release`` and its test against the others."""

    release: str
    predecessors: tuple[str, ...]
    strata: Strata
    rate_ratio: float
    p: float
    #: events, boots of the range; of the others (comparable strata only)
    counts: tuple[int, int, int, int]


def best_range(
    release: str, cells: Cells, eligible: Callable[[str], bool] = lambda _: True
) -> Range | None:
    """Bisection: from the single predecessor that stands out most (among the
    ``eligible``), grow the range along the version order while each neighbour's
    boots behave like the range's rather than like the rest."""
    ordered = sorted((p for p in cells if p != COLD), key=release_key)
    singles = [
        (stratified_exact_p(t[0]), i, t)
        for i, p in enumerate(ordered)
        if eligible(p) and (t := test([p], cells))
    ]
    if not singles:
        return None
    p, start, (keyed, rr) = min(singles, key=lambda single: single[:2])
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
    if high > low:  # (a single predecessor's p is known)
        p = stratified_exact_p(keyed)
    # The range grew from the most extreme of the predecessors: correct for that choice.
    return Range(
        release,
        tuple(inside),
        keyed,
        rr,
        min(1.0, p * len(ordered)),
        compared(inside, cells, keyed),
    )
