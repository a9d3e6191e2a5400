"""
Culprits
--------

A kernel that damages whatever it kexecs into (it leaves a device, the IOMMU
or the handed-over memory in a bad state) raises the crash rate of every
release after it, and in a release that it supplied most of the kexec boots
to, nothing is left to compare it with. Pooled over its successor releases,
stratum by stratum (release, host class, depth), its boots still stand out
against the other predecessors of the same releases; a kernel is named a
culprit only where that holds beyond its :data:`BEYOND` strongest successor
(a bug of one transition is a suspect, not a culprit).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kexec_lineage.fleet.cells import Releases, compared
from kexec_lineage.fleet.stats import Strata, mantel_haenszel_rr, stratified_exact_p
from kexec_lineage.model.transition import COLD

__all__ = ("BEYOND", "Pooled", "pooled")

#: How many of its strongest successors a culprit's excess must not rest on alone.
BEYOND = 1


@dataclass(frozen=True, slots=True, eq=False)
class Pooled:
    """One predecessor's kexecs into all its successor releases against their others."""

    predecessor: str
    #: releases whose boots after it crash more than after their other predecessors
    successors: tuple[str, ...]
    rate_ratio: float
    p: float
    counts: tuple[int, int, int, int]
    #: the strata without the :data:`BEYOND` successors of the largest excess
    beyond: Strata

    @property
    def p_beyond(self) -> float:
        """The test of :attr:`beyond`: asked only of a predecessor otherwise named, as
        each exact test of many strata is most of an analysis' time."""
        return stratified_exact_p(self.beyond)


def pooled(
    releases: Releases, eligible: Callable[[str, str], bool] = lambda _r, _p: True
) -> list[Pooled]:
    """The pooled test of every kexec predecessor found in two releases or more;
    ``eligible(release, predecessor)`` says which of its transitions may count."""
    per: dict[str, dict[str, Strata]] = {}
    counts: dict[str, tuple[int, int, int, int]] = {}
    for release, cells in releases.items():
        for predecessor in cells:
            if predecessor == COLD or not eligible(release, predecessor):
                continue
            keyed = cells.split([predecessor])
            per.setdefault(predecessor, {})[release] = keyed
            these = compared([predecessor], cells, keyed)
            before = counts.get(predecessor, (0, 0, 0, 0))
            counts[predecessor] = (
                before[0] + these[0],
                before[1] + these[1],
                before[2] + these[2],
                before[3] + these[3],
            )
    out = []
    for predecessor, by_release in per.items():
        if len(by_release) < 2:
            continue
        excess = {r: _excess(s) for r, s in by_release.items()}
        successors = tuple(
            sorted(r for r, e in excess.items() if e > 0 and mantel_haenszel_rr(by_release[r]) > 1)
        )
        strongest = sorted(excess, key=lambda r: -excess[r])[:BEYOND]
        beyond = [s for r, s in by_release.items() if r not in strongest]
        every = _joined(list(by_release.values()))
        out.append(
            Pooled(
                predecessor,
                successors,
                mantel_haenszel_rr(every),
                stratified_exact_p(every),
                counts[predecessor],
                _joined(beyond),
            )
        )
    return out


def _joined(groups: Sequence[Strata]) -> Strata:
    """The strata of several releases side by side: each release's are its own."""
    if not groups:
        return Strata.of(())
    return Strata(*(np.concatenate(column) for column in zip(*groups, strict=True)))


def _excess(group: Strata) -> float:
    """Events above what the others' rates predict, in strata that compare."""
    c = group.comparing()
    x, e = group.crashed[c], group.exposure[c]
    return float((x - e * group.other_crashed[c] / group.other_exposure[c]).sum())
