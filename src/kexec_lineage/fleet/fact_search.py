"""
Fact search
-----------

Which host facts a transition's excess crashes sit in. A bug of the 5-level
paging code strikes only CPUs with LA57, one of the EFI stub only EFI hosts:
fleet-wide such a bug may be too diluted to see, but among the hosts with the
fact it stands out. Every fact with few values is a candidate "only on"; facts
that select the same fact sets (a product name and its board, say) are one
candidate, tested once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats

from kexec_lineage.fleet.cells import Cell, merge, strata
from kexec_lineage.fleet.stats import log_rate_ratio

__all__ = ("MAX_VALUES", "Selection", "concentration", "selections")

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


def concentration(
    inside: Sequence[str], within: Mapping[str, Cell], outside: Mapping[str, Cell]
) -> tuple[float, float]:
    """The rate ratio of ``inside`` among the hosts outside a selection, and the
    one-sided p of the ratio within being the larger: a Wald test of the difference
    of the two log Mantel-Haenszel ratios, with Greenland and Robins' variance,
    which counts the noise of both comparison groups (a test on expected counts
    alone calls a small, noisy comparison group significant)."""
    among, elsewhere = _log_ratio(inside, within), _log_ratio(inside, outside)
    if elsewhere is None:
        return 1.0, 1.0
    rr_out = math.exp(elsewhere[0])
    if among is None:
        return rr_out, 1.0
    z = (among[0] - elsewhere[0]) / math.sqrt(among[1] + elsewhere[1])
    return rr_out, float(stats.norm.sf(z))


def _log_ratio(inside: Sequence[str], cells: Mapping[str, Cell]) -> tuple[float, float] | None:
    if not any(p in cells for p in inside):
        return None
    exposed = merge(cells[p] for p in inside if p in cells)
    return log_rate_ratio(
        list(strata(exposed, (cells[p] for p in cells if p not in inside)).values())
    )
