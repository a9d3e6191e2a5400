"""
Count table
-----------

The fleet reduced, inside the engine that holds it, to two small tables that
every statistic is computed from:

- :class:`CountRow`: boots, boot-hours, boots with a crash and crashes per
  (release, predecessor, how, kexec-count bucket, platform, region);
- :class:`TitleRow`: boots with a crash of each title per (title, release,
  predecessor, how).

The *predecessor* of a boot is the release it was kexec'd from, :data:`COLD`
for a cold boot, and :data:`UNKNOWN` for a kexec whose previous release nobody
recorded. Per transition, per title, per depth, cold against kexec: all are
sums over these rows. This module is the tables' vocabulary only, pure Python;
the engines that fill them are :mod:`kexec_lineage.fleet.count_queries` (SQL),
:mod:`kexec_lineage.fleet.spark` (Spark) and
:meth:`kexec_lineage.sim.fleet.Fleet.count_rows` (the simulator, in memory),
and they must give equal tables.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = (
    "COLD",
    "DEPTH_BUCKETS",
    "UNKNOWN",
    "CountRow",
    "TitleRow",
    "depth_bucket",
)

COLD = "cold"
UNKNOWN = "unknown"
#: Lower bounds of the kexec-count buckets: 0, 1, 2, 3-4, 5-8, 9 and more.
DEPTH_BUCKETS = (0, 1, 2, 3, 5, 9)


@dataclass(frozen=True, slots=True, order=True)
class CountRow:
    release: str
    predecessor: str
    how: str
    depth: int
    platform: str
    region: str
    boots: int
    hours: float
    crashed_boots: int
    crashes: int


@dataclass(frozen=True, slots=True, order=True)
class TitleRow:
    title: str
    release: str
    predecessor: str
    how: str
    crashed_boots: int


def depth_bucket(kexec_count: int) -> int:
    """The bucket (its lower bound) that ``kexec_count`` falls in."""
    return max(b for b in DEPTH_BUCKETS if b <= kexec_count)
