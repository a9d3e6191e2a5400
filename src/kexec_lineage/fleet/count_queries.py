"""
Count queries
-------------

The count tables of :mod:`kexec_lineage.fleet.count_table` as the store keeps
them (:mod:`kexec_lineage.fleet.count_upkeep`), and the per-transition totals
that ``GET /v1/transitions`` and the dashboard show, with when each transition
booted (first and last seen, growing or not) and each release's boots per day:
reads of a few small tables, whatever the number of boots.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from kexec_lineage.errors import InputError
from kexec_lineage.fleet.count_table import (
    EARLY_EDGES,
    EARLY_SECONDS,
    NO_DAY,
    CountRow,
    CountTables,
    HostSpread,
    TitleRow,
)
from kexec_lineage.fleet.schema import count_cells, fact_sets, spread_cells, title_cells
from kexec_lineage.model.transition import Transition, predecessor_key

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from kexec_lineage.fleet.store import Store

__all__ = (
    "ARRIVING_DAYS",
    "GROWTH_DAYS",
    "Freshness",
    "ReleaseDay",
    "Seen",
    "count_rows",
    "count_tables",
    "day_name",
    "day_sums",
    "early_crashed_boots",
    "fact_set_table",
    "freshness",
    "freshness_of",
    "host_spread",
    "release_days",
    "release_days_of",
    "title_rows",
    "transitions",
)

#: The window (days) whose boots tell whether a transition is still growing:
#: a week, so that weekday and weekend reboot patterns cancel out.
GROWTH_DAYS = 7
#: A suspect whose bad predecessors booted into its release on none of the fleet's
#: last this many days is no longer arriving: the hosts have moved past the
#: transition, whatever its rate was.
ARRIVING_DAYS = 7


def count_rows(store: Store, early_seconds: float = EARLY_SECONDS) -> list[CountRow]:
    """The count table, from the cells kept at ingest; a boot whose first crash came
    within ``early_seconds`` of its start (one of :data:`EARLY_EDGES`) is an early
    crashed boot.

    :raises InputError: ``early_seconds`` is not one of the windows kept.
    """
    c = count_cells.c
    early = early_crashed_boots(early_seconds)
    key = (c.release, c.predecessor, c.how, c.depth, c.facts, c.day)
    query = sa.select(
        *key,
        *(sa.func.sum(c[n]).label(n) for n in ("boots", "seconds", "crashed_boots", "crashes")),
        sa.func.coalesce(sa.func.sum(early), 0).label("early"),
    ).group_by(*key)
    with store.transaction("reading the count table") as connection:
        return sorted(
            CountRow(
                r.release,
                r.predecessor,
                r.how,
                int(r.depth),
                r.facts,
                int(r.day),
                int(r.boots),
                int(r.seconds) / 3600,
                int(r.crashed_boots),
                int(r.crashes),
                int(r.early),
            )
            for r in connection.execute(query)
        )


def early_crashed_boots(early_seconds: float) -> ColumnElement[int]:
    """A count cell's crashed boots where their first crash came within ``early_seconds``
    (NULL elsewhere), to be summed.

    :raises InputError: ``early_seconds`` is not one of the windows kept.
    """
    if early_seconds not in EARLY_EDGES:
        kept = ", ".join(f"{edge / 60:g}" for edge in EARLY_EDGES)
        raise InputError(
            f"the early window must be one of {kept} minutes, not {early_seconds / 60:g}"
        )
    c = count_cells.c
    return sa.case((sa.and_(c.early_by > 0, c.early_by <= early_seconds), c.crashed_boots))


def count_tables(store: Store, early_seconds: float = EARLY_SECONDS) -> CountTables:
    """All the count tables of the fleet in ``store`` (see :func:`count_rows`)."""
    return CountTables(
        count_rows(store, early_seconds),
        title_rows(store),
        fact_set_table(store),
        host_spread(store),
    )


def fact_set_table(store: Store) -> dict[str, dict[str, str]]:
    """digest -> facts of every fact set stored: what the count rows' ``facts`` mean."""
    with store.transaction("reading fact sets") as connection:
        rows = connection.execute(sa.select(fact_sets.c.digest, fact_sets.c.facts))
        return {digest: json.loads(facts) for digest, facts in rows}


def host_spread(store: Store) -> dict[tuple[str, str], HostSpread]:
    """(release, predecessor) -> how many hosts booted that transition, and how many
    of them had a boot of it crash."""
    c = spread_cells.c
    query = sa.select(c.release, c.predecessor, c.hosts, c.crashed_hosts)
    with store.transaction("reading host counts") as connection:
        return {(r[0], r[1]): HostSpread(int(r[2]), int(r[3])) for r in connection.execute(query)}


def title_rows(store: Store) -> list[TitleRow]:
    """Boots with a crash of each title, from the cells kept at ingest."""
    c = title_cells.c
    query = sa.select(c.title, c.release, c.predecessor, c.how, c.crashed_boots)
    with store.transaction("reading title counts") as connection:
        return sorted(TitleRow(t, r, p, h, int(n)) for t, r, p, h, n in connection.execute(query))


def transitions(store: Store, release: str | None = None) -> list[Transition]:
    """The fleet's transitions as stored now, as ``GET /v1/transitions`` gives them;
    only those into ``release`` where it is given."""
    c = count_cells.c
    query = sa.select(
        c.release,
        c.predecessor,
        sa.func.sum(c.boots),
        sa.func.sum(c.crashed_boots),
        sa.func.sum(c.crashes),
        sa.func.sum(c.seconds),
    ).group_by(c.release, c.predecessor)
    if release is not None:
        query = query.where(c.release == release)
    with store.transaction("counting transitions") as connection:
        found = [
            Transition(r, p, int(n), int(x), int(k), int(seconds) / 3600)
            for r, p, n, x, k, seconds in connection.execute(query)
        ]
    return sorted(found, key=lambda t: (t.release, predecessor_key(t.predecessor)))


@dataclass(frozen=True, slots=True, order=True)
class ReleaseDay:
    """One release's boots on one UTC day (since 1970): boots, their hours, how many crashed."""

    release: str
    day: int
    boots: int
    hours: float
    crashed_boots: int


def day_sums(connection: Connection) -> list[CountRow]:
    """The count cells summed per transition, how and day (as count rows of depth 0 and
    no fact set): what the days' weights, the transitions and their totals, when each
    booted and each release's days are all made of, in one read of the cells."""
    c = count_cells.c
    key = (c.release, c.predecessor, c.how, c.day)
    query = sa.select(
        *key,
        *(sa.func.sum(c[n]) for n in ("boots", "seconds", "crashed_boots", "crashes")),
    ).group_by(*key)
    return [
        CountRow(r, p, how, 0, "", int(day), int(n), int(seconds) / 3600, int(x), int(k))
        for r, p, how, day, n, seconds, x, k in connection.execute(query)
    ]


def _dated(days: Iterable[CountRow]) -> list[CountRow]:
    """The day sums of known days, kdump boots aside: a capture kernel boots after a
    crash, not a host moving onto a transition (it would count a crash twice, and keep
    a suspect arriving on its own crashes)."""
    return [d for d in days if d.day != NO_DAY and d.how != "kdump" and d.boots > 0]


def release_days_of(days: Iterable[CountRow]) -> list[ReleaseDay]:
    """Every release's boots per day, from :func:`day_sums`, for the overview's rates
    over time: boots of an unknown day have no place on a time axis."""
    sums: dict[tuple[str, int], list[float]] = {}
    for d in _dated(days):
        total = sums.setdefault((d.release, d.day), [0, 0.0, 0])
        total[0] += d.boots
        total[1] += d.hours
        total[2] += d.crashed_boots
    return sorted(
        ReleaseDay(release, day, int(n), h, int(x)) for (release, day), (n, h, x) in sums.items()
    )


def release_days(store: Store) -> list[ReleaseDay]:
    """:func:`release_days_of` the store's count cells."""
    with store.transaction("counting boots per day") as connection:
        return release_days_of(day_sums(connection))


def day_name(day: int) -> str:
    """A UTC day since 1970 as ``YYYY-MM-DD``."""
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).isoformat()


@dataclass(frozen=True, slots=True)
class Seen:
    """When a transition booted: its first and last day with a boot (UTC days since
    1970, boots of unknown day and kdump boots aside), its boots on the fleet's last
    :data:`GROWTH_DAYS` days (``recent_boots``) and on the :data:`GROWTH_DAYS` before
    them (``earlier_boots``)."""

    first_day: int
    last_day: int
    recent_boots: int
    earlier_boots: int

    @property
    def growing(self) -> bool:
        """More boots in the fleet's last :data:`GROWTH_DAYS` days than in the
        :data:`GROWTH_DAYS` before them: hosts are still moving onto it (a new
        transition counts as growing, one whose boots merely held steady does not)."""
        return self.recent_boots > self.earlier_boots

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, the extra fields of a transition in ``GET /v1/transitions``."""
        return {
            "first_seen": day_name(self.first_day),
            "last_seen": day_name(self.last_day),
            "recent_boots": self.recent_boots,
            "earlier_boots": self.earlier_boots,
            "growing": self.growing,
        }


@dataclass(frozen=True, slots=True)
class Freshness:
    """The :class:`Seen` of every transition with a boot of known day, and the fleet's
    newest such day (``None`` for a fleet without one)."""

    newest_day: int | None
    seen: dict[tuple[str, str], Seen]

    def of(self, release: str, predecessors: tuple[str, ...]) -> Seen | None:
        """The boots of ``release`` after any of ``predecessors`` as one :class:`Seen`
        (a suspect's range of bad predecessors), ``None`` where none has a known day."""
        found = [s for p in predecessors if (s := self.seen.get((release, p))) is not None]
        if not found:
            return None
        return Seen(
            min(s.first_day for s in found),
            max(s.last_day for s in found),
            sum(s.recent_boots for s in found),
            sum(s.earlier_boots for s in found),
        )

    def arriving(self, release: str, predecessors: tuple[str, ...]) -> bool:
        """Whether boots of ``release`` after any of ``predecessors`` still come: one on
        the fleet's last :data:`ARRIVING_DAYS` days, or none of known day at all (then
        nobody can say they stopped)."""
        seen = self.of(release, predecessors)
        if seen is None or self.newest_day is None:
            return True
        return seen.last_day > self.newest_day - ARRIVING_DAYS

    def fields(self, release: str, predecessor: str) -> dict[str, Any]:
        """:meth:`Seen.as_dict` of one transition; nulls where no boot has a known day."""
        seen = self.seen.get((release, predecessor))
        if seen is None:
            return {
                "first_seen": None,
                "last_seen": None,
                "recent_boots": 0,
                "earlier_boots": 0,
                "growing": False,
            }
        return seen.as_dict()


def freshness_of(days: Iterable[CountRow]) -> Freshness:
    """First and last seen, and growth, of every transition (:class:`Seen`), from
    :func:`day_sums`, kdump boots aside."""
    dated = _dated(days)
    if not dated:
        return Freshness(None, {})
    newest = max(d.day for d in dated)
    recent_from, earlier_from = newest - GROWTH_DAYS, newest - 2 * GROWTH_DAYS
    sums: dict[tuple[str, str], list[int]] = {}
    for d in dated:
        total = sums.setdefault((d.release, d.predecessor), [d.day, d.day, 0, 0])
        total[0], total[1] = min(total[0], d.day), max(total[1], d.day)
        if d.day > recent_from:
            total[2] += d.boots
        elif d.day > earlier_from:
            total[3] += d.boots
    return Freshness(newest, {key: Seen(*total) for key, total in sums.items()})


def freshness(store: Store) -> Freshness:
    """:func:`freshness_of` the store's count cells: one read of them, whatever the
    number of boots."""
    with store.transaction("dating transitions") as connection:
        return freshness_of(day_sums(connection))
