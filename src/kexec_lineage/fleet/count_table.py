"""
Count table
-----------

The fleet reduced, inside the engine that holds it, to two small tables that
every statistic is computed from:

- :class:`CountRow`: boots, boot-hours, boots with a crash, crashes and boots
  whose first crash came early (within :data:`EARLY_SECONDS` of boot, or the
  window the count was asked for) per (release, predecessor, how,
  kexec-count bucket, fact set, day the boot started);
- :class:`TitleRow`: boots with a crash of each title per (title, release,
  predecessor, how).

A boot's *predecessor* is :func:`~kexec_lineage.model.transition.predecessor_of`.
Per transition, per title, per depth, cold against kexec: all are sums over
these rows. This module is the tables' vocabulary only, pure Python;
the engines that fill them are :mod:`kexec_lineage.fleet.count_upkeep` (the
store, with the rules of :mod:`kexec_lineage.fleet.count_sql`),
:mod:`kexec_lineage.fleet.spark` (Spark) and
:meth:`kexec_lineage.sim.fleet.Fleet.count_rows` (the simulator, in memory),
and they must give equal tables.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kexec_lineage.model.release import release_key
from kexec_lineage.model.transition import Transition, predecessor_key

__all__ = (
    "DEPTH_BUCKETS",
    "EARLY_EDGES",
    "EARLY_SECONDS",
    "NO_DAY",
    "CountRow",
    "CountTables",
    "HostSpread",
    "TitleRow",
    "day_of",
    "depth_bucket",
    "early_by",
    "transitions_of",
    "whole_seconds",
)

#: Lower bounds of the kexec-count buckets: each count up to 12, 13-16, 17 and more. A
#: bug whose rate grows with every kexec makes deeper chains crash more: at 1.45 times
#: per kexec (as the simulator's depth bugs reach), chains of 5 and of 8 kexecs crash
#: three-fold apart, and a predecessor whose chains ran deeper within one coarse bucket
#: was blamed for the depth.
DEPTH_BUCKETS: tuple[int, ...] = (*range(13), 13, 17)
#: A crash this soon after boot is early: kexec-induced bugs strike while the new
#: kernel still runs on what the old one left (devices, memory, firmware tables).
EARLY_SECONDS = 15 * 60
#: The :attr:`CountRow.day` of boots whose start time is unknown.
NO_DAY = -1
#: The early windows (seconds) a store's count tables can answer for: they keep, per
#: cell, the first of these each boot's first crash came within.
EARLY_EDGES: tuple[int, ...] = (60, 120, 300, 600, 900, 1800, 3600)


@dataclass(frozen=True, slots=True, order=True)
class CountRow:
    """One cell; ``facts`` is the :func:`~kexec_lineage.model.wire.facts_digest` of the
    facts its boots ran with ("" for none), which the count tables' ``fact_sets``
    (digest -> facts) spell out; ``day`` the UTC day (since 1970) its boots started
    on (:data:`NO_DAY` where unknown): a fleet-wide incident of some days raises the
    rates of whatever booted then, and only the day tells it from a transition's bug."""

    release: str
    predecessor: str
    how: str
    depth: int
    facts: str
    day: int
    boots: int
    hours: float
    crashed_boots: int
    crashes: int
    early_crashed_boots: int = 0


@dataclass(frozen=True, slots=True, order=True)
class TitleRow:
    title: str
    release: str
    predecessor: str
    how: str
    crashed_boots: int


@dataclass(frozen=True, slots=True)
class HostSpread:
    """How many hosts a transition's boots, and its crashed boots, came from: what
    one host alone can never raise."""

    hosts: int
    crashed_hosts: int


@dataclass(frozen=True, slots=True)
class CountTables:
    """Everything the analysis reads of a stored fleet: the count and title rows, what
    their fact sets are (digest -> facts), and how many hosts each transition's boots
    came from."""

    rows: Sequence[CountRow]
    titles: Sequence[TitleRow]
    fact_sets: Mapping[str, Mapping[str, str]]
    spread: Mapping[tuple[str, str], HostSpread]


def depth_bucket(kexec_count: int) -> int:
    """The bucket (its lower bound) that ``kexec_count`` falls in."""
    return DEPTH_BUCKETS[bisect.bisect_right(DEPTH_BUCKETS, kexec_count) - 1]


# The rules below are those the SQL of kexec_lineage.fleet.count_sql spells too.


def day_of(started_at: float | None) -> int:
    """The UTC day since 1970 of a start time, :data:`NO_DAY` where unknown."""
    return NO_DAY if started_at is None else math.floor(started_at / 86400)


def whole_seconds(hours: float | None) -> int:
    """A boot's uptime in whole seconds, 0 where unknown: integers add up alike in
    any order and engine, floats do not."""
    return 0 if hours is None else math.floor(hours * 3600)


def early_by(first_crash: float | None) -> int:
    """The first of :data:`EARLY_EDGES` that a first crash at ``first_crash`` seconds
    after boot came within; 0 for none (later, or at an unknown time)."""
    if first_crash is None:
        return 0
    return next((edge for edge in EARLY_EDGES if first_crash <= edge), 0)


def transitions_of(rows: Iterable[CountRow]) -> list[Transition]:
    """The transitions ``rows`` add up to, by release and then predecessor."""
    sums: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        total = sums.setdefault((row.release, row.predecessor), [0, 0, 0, 0.0])
        total[0] += row.boots
        total[1] += row.crashed_boots
        total[2] += row.crashes
        total[3] += row.hours
    return [
        Transition(release, predecessor, int(n), int(x), int(c), h)
        for (release, predecessor), (n, x, c, h) in sorted(
            sums.items(), key=lambda kv: (release_key(kv[0][0]), predecessor_key(kv[0][1]))
        )
    ]
