"""
Count queries
-------------

The count tables of :mod:`kexec_lineage.fleet.count_table` as the store keeps
them (:mod:`kexec_lineage.fleet.count_upkeep`), and the per-transition totals
that ``GET /v1/transitions`` and the dashboard show: reads of a few small
tables, whatever the number of boots. Here too are the SQL spellings of the
counting rules (:class:`Day`, :class:`WholeSeconds`, :func:`depth_of_boot`,
:func:`early_by_sql`, :func:`predecessor_of_boot`) that a recount from the raw
rows uses; they and the Spark job of :mod:`kexec_lineage.fleet.spark` must give
equal tables. :func:`with_crash_counts` is shared with
:mod:`kexec_lineage.fleet.views`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from kexec_lineage.errors import InputError
from kexec_lineage.fleet.count_table import (
    DEPTH_BUCKETS,
    EARLY_EDGES,
    EARLY_SECONDS,
    NO_DAY,
    CountRow,
    CountTables,
    HostSpread,
    TitleRow,
)
from kexec_lineage.fleet.schema import (
    boots,
    count_cells,
    crashes,
    fact_sets,
    spread_cells,
    title_cells,
)
from kexec_lineage.model.transition import COLD, UNKNOWN, Transition, predecessor_key

if TYPE_CHECKING:
    from kexec_lineage.fleet.store import Store

__all__ = (
    "Day",
    "WholeSeconds",
    "count_rows",
    "count_tables",
    "depth_of_boot",
    "early_by_sql",
    "fact_set_table",
    "host_spread",
    "predecessor_of_boot",
    "title_rows",
    "transitions",
    "with_crash_counts",
)


class WholeSeconds(FunctionElement[int]):
    """floor(hours * 3600) as an integer, NULL as 0, in every dialect's own terms."""

    type = sa.BigInteger()
    inherit_cache = True


@compiles(WholeSeconds)
def _compile_whole_seconds(element: WholeSeconds, compiler: Any, **kw: Any) -> str:
    (hours,) = element.clauses
    return f"CAST(FLOOR(COALESCE({compiler.process(hours, **kw)}, 0) * 3600) AS BIGINT)"


@compiles(WholeSeconds, "sqlite")
def _compile_whole_seconds_sqlite(element: WholeSeconds, compiler: Any, **kw: Any) -> str:
    # SQLite's FLOOR may be missing (or a slow Python function); CAST truncates,
    # which is FLOOR for hours, never negative.
    (hours,) = element.clauses
    return f"CAST(COALESCE({compiler.process(hours, **kw)}, 0) * 3600 AS INTEGER)"


class Day(FunctionElement[int]):
    """The UTC day (since 1970) of a boot's start time, :data:`NO_DAY` for none."""

    type = sa.BigInteger()
    inherit_cache = True


@compiles(Day)
def _day(element: Day, compiler: Any, **kw: Any) -> str:
    (started,) = element.clauses
    at = compiler.process(started, **kw)
    return f"COALESCE(CAST(FLOOR({at} / 86400) AS BIGINT), {NO_DAY})"


@compiles(Day, "sqlite")
def _day_sqlite(element: Day, compiler: Any, **kw: Any) -> str:
    # As for WholeSeconds: CAST truncates, FLOOR for times after 1970.
    (started,) = element.clauses
    return f"COALESCE(CAST({compiler.process(started, **kw)} / 86400 AS INTEGER), {NO_DAY})"


def predecessor_of_boot() -> ColumnElement[str]:
    """A boot's predecessor: :data:`COLD`, the release it was kexec'd from, or :data:`UNKNOWN`."""
    return sa.case(
        (boots.c.how == "cold", sa.literal(COLD)),
        else_=sa.func.coalesce(boots.c.previous_release, sa.literal(UNKNOWN)),
    )


def depth_of_boot() -> ColumnElement[int]:
    """A boot's kexec-count bucket, as :func:`~kexec_lineage.fleet.count_table.depth_bucket`."""
    buckets = sorted(DEPTH_BUCKETS, reverse=True)
    return sa.case(
        *((boots.c.kexec_count >= b, sa.literal(b)) for b in buckets[:-1]),
        else_=sa.literal(buckets[-1]),
    )


def early_by_sql(first: ColumnElement[Any]) -> ColumnElement[int]:
    """:func:`~kexec_lineage.fleet.count_table.early_by` of a first crash's time since
    boot (NULL: none, or unknown)."""
    return sa.case(*((first <= edge, sa.literal(edge)) for edge in EARLY_EDGES), else_=0)


def with_crash_counts(source: sa.FromClause) -> tuple[sa.Join, sa.Subquery]:
    """``source`` (boots, maybe joined to more) left-joined to each boot's number of
    crashes, and the subquery whose column ``n`` holds it (NULL for a boot without
    crashes) and ``first`` the time since boot of its first crash (NULL if unknown)."""
    per_boot = (
        sa.select(
            crashes.c.host_id,
            crashes.c.boot_id,
            sa.func.count().label("n"),
            sa.func.min(crashes.c.uptime).label("first"),
        )
        .group_by(crashes.c.host_id, crashes.c.boot_id)
        .subquery()
    )
    on = sa.and_(per_boot.c.host_id == boots.c.host_id, per_boot.c.boot_id == boots.c.boot_id)
    return source.outerjoin(per_boot, on), per_boot


def count_rows(store: Store, early_seconds: float = EARLY_SECONDS) -> list[CountRow]:
    """The count table, from the cells kept at ingest; a boot whose first crash came
    within ``early_seconds`` of its start (one of :data:`EARLY_EDGES`) is an early
    crashed boot.

    :raises InputError: ``early_seconds`` is not one of the windows kept.
    """
    if early_seconds not in EARLY_EDGES:
        kept = ", ".join(f"{edge / 60:g}" for edge in EARLY_EDGES)
        raise InputError(
            f"the early window must be one of {kept} minutes, not {early_seconds / 60:g}"
        )
    c = count_cells.c
    early = sa.case((sa.and_(c.early_by > 0, c.early_by <= early_seconds), c.crashed_boots))
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
