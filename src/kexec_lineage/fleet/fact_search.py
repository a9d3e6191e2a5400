"""
Fact search
-----------

Which host facts a transition's excess crashes sit in. A bug of the 5-level
paging code strikes only CPUs with LA57, one of the EFI stub only EFI hosts:
fleet-wide such a bug may be too diluted to see, but among the hosts with the
fact it stands out. Every fact with few values is a candidate "only on"; facts
that select the same fact sets (a product name and its board, say) are one
candidate, tested once. Whether the excess sits there is asked of hosts against
hosts: those with the fact against those without on the suspect's transitions,
beside the same two groups on every other transition.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats

from kexec_lineage.fleet.cells import Cells, Releases, strata
from kexec_lineage.fleet.stats import RatioSums, log_rate_ratio, ratio_sums

__all__ = ("MAX_VALUES", "Selection", "concentration", "contrasts", "selections")

#: A fact with more values than this (a BIOS date, a rack) is not searched.
MAX_VALUES = 12


@dataclass(frozen=True, slots=True)
class Selection:
    """Hosts with ``fact=value`` (and the facts that select the same ones)."""

    fact: str
    value: str
    same_as: tuple[str, ...]
    #: the fact sets it selects
    digests: frozenset[str]


def selections(fact_sets: Mapping[str, Mapping[str, str]]) -> list[Selection]:
    """Every ``fact=value`` that splits the fleet's fact sets, once per distinct split."""
    values: dict[str, dict[str, set[str]]] = {}
    for digest, facts in fact_sets.items():
        for fact, value in facts.items():
            values.setdefault(fact, {}).setdefault(value, set()).add(digest)
    everything = frozenset(fact_sets)
    splits: dict[frozenset[str], list[tuple[str, str]]] = {}
    for fact in sorted(values):
        if len(values[fact]) > MAX_VALUES:
            continue
        for value, digests in sorted(values[fact].items()):
            chosen = frozenset(digests)
            if chosen != everything:
                splits.setdefault(chosen, []).append((fact, value))
    return [
        Selection(named[0][0], named[0][1], tuple(f"{f}={v}" for f, v in named[1:]), digests)
        for digests, named in splits.items()
    ]


def contrasts(within: Releases, outside: Releases) -> dict[tuple[str, str], RatioSums]:
    """(release, predecessor) -> the sums of the selection's hosts against the other
    hosts of that transition, stratum by stratum."""
    out = {}
    for release, cells in within.items():
        others = outside.get(release)
        if others is None:
            continue
        for i, predecessor in enumerate(cells.predecessors):
            if predecessor in others:
                keyed = strata(cells.values[i], others.of(predecessor))
                out[(release, predecessor)] = ratio_sums(keyed)
    return out


def concentration(
    release: str,
    inside: Sequence[str],
    outside: Cells | None,
    contrast: Mapping[tuple[str, str], RatioSums],
    fleet: RatioSums,
) -> tuple[float, float]:
    """The rate ratio of ``inside`` against the release's other predecessors among the
    hosts outside a selection, and the one-sided p of the selection's hosts crashing
    more, against the other hosts, after kexec from ``inside`` than they do on the rest
    of the fleet (``fleet``: the sum of ``contrast``).

    The test is a Wald test of the difference of the two log Mantel-Haenszel ratios of
    the selection's hosts against the others (class and depth alike), with Greenland
    and Robins' variance, which counts the noise of both (a test on expected counts
    alone calls a small, noisy group significant). Comparing the hosts of the range
    with each other, rather than the range with the release's other predecessors
    within the selection, leaves the test its power where the range supplied most of
    the selection's boots of the release."""
    elsewhere = _log_ratio(inside, outside)
    rr_out = 1.0 if elsewhere is None else math.exp(elsewhere[0])
    here = RatioSums.of(contrast[(release, p)] for p in inside if (release, p) in contrast)
    among, rest = log_rate_ratio(here), log_rate_ratio(fleet.without(here))
    if among is None or rest is None:
        return rr_out, 1.0
    z = (among[0] - rest[0]) / math.sqrt(among[1] + rest[1])
    return rr_out, float(stats.norm.sf(z))


def _log_ratio(inside: Sequence[str], cells: Cells | None) -> tuple[float, float] | None:
    if cells is None or not any(p in cells for p in inside):
        return None
    return log_rate_ratio(cells.split(inside))
