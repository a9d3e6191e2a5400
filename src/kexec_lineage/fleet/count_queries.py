"""
Count queries
-------------

The count tables of :mod:`kexec_lineage.fleet.count_table`, aggregated by the
database that holds the fleet (SQLite or PostgreSQL), and the per-transition
totals that ``GET /v1/transitions`` and the dashboard show. The SQL rules here
and those of the Spark job in :mod:`kexec_lineage.fleet.spark` must give equal
tables; :func:`predecessor_of_boot` and :func:`with_crash_counts` are the
pieces :mod:`kexec_lineage.fleet.views` shares.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from kexec_lineage.fleet.count_table import (
    DEPTH_BUCKETS,
    EARLY_SECONDS,
    NO_DAY,
    CountRow,
    CountTables,
    HostSpread,
    TitleRow,
)
from kexec_lineage.fleet.schema import boots, crashes, fact_sets
from kexec_lineage.model.transition import COLD, UNKNOWN, Transition, predecessor_key

if TYPE_CHECKING:
    from kexec_lineage.fleet.store import Store

__all__ = (
    "count_rows",
    "count_tables",
    "fact_set_table",
    "host_spread",
    "predecessor_of_boot",
    "title_rows",
    "transitions",
    "with_crash_counts",
)


class _WholeSeconds(FunctionElement[int]):
    """floor(hours * 3600) as an integer, NULL as 0, in every dialect's own terms."""

    type = sa.BigInteger()
    inherit_cache = True


@compiles(_WholeSeconds)
def _whole_seconds(element: _WholeSeconds, compiler: Any, **kw: Any) -> str:
    (hours,) = element.clauses
    return f"CAST(FLOOR(COALESCE({compiler.process(hours, **kw)}, 0) * 3600) AS BIGINT)"


@compiles(_WholeSeconds, "sqlite")
def _whole_seconds_sqlite(element: _WholeSeconds, compiler: Any, **kw: Any) -> str:
    # SQLite's FLOOR may be missing (or a slow Python function); CAST truncates,
    # which is FLOOR for hours, never negative.
    (hours,) = element.clauses
    return f"CAST(COALESCE({compiler.process(hours, **kw)}, 0) * 3600 AS INTEGER)"


class _Day(FunctionElement[int]):
    """The UTC day (since 1970) of a boot's start time, :data:`NO_DAY` for none."""

    type = sa.BigInteger()
    inherit_cache = True


@compiles(_Day)
def _day(element: _Day, compiler: Any, **kw: Any) -> str:
    (started,) = element.clauses
    at = compiler.process(started, **kw)
    return f"COALESCE(CAST(FLOOR({at} / 86400) AS BIGINT), {NO_DAY})"


@compiles(_Day, "sqlite")
def _day_sqlite(element: _Day, compiler: Any, **kw: Any) -> str:
    # As for _WholeSeconds: CAST truncates, FLOOR for times after 1970.
    (started,) = element.clauses
    return f"COALESCE(CAST({compiler.process(started, **kw)} / 86400 AS INTEGER), {NO_DAY})"


def predecessor_of_boot() -> ColumnElement[str]:
    """A boot's predecessor: :data:`COLD`, the release it was kexec'd from, or :data:`UNKNOWN`."""
    return sa.case(
        (boots.c.how == "cold", sa.literal(COLD)),
        else_=sa.func.coalesce(boots.c.previous_release, sa.literal(UNKNOWN)),
    )


def _depth() -> ColumnElement[int]:
    buckets = sorted(DEPTH_BUCKETS, reverse=True)
    return sa.case(
        *((boots.c.kexec_count >= b, sa.literal(b)) for b in buckets[:-1]),
        else_=sa.literal(buckets[-1]),
    )


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
    """The count table, aggregated by the database; a boot whose first crash came
    within ``early_seconds`` of its start is an early crashed boot."""
    joined, per_boot = with_crash_counts(
        boots.outerjoin(fact_sets, fact_sets.c.id == boots.c.fact_set_id)
    )
    predecessor, depth = predecessor_of_boot().label("predecessor"), _depth().label("depth")
    facts = sa.func.coalesce(fact_sets.c.digest, "").label("facts")
    day = _Day(boots.c.started_at).label("day")
    early = sa.case((per_boot.c.first <= early_seconds, 1), else_=0)
    query = (
        sa.select(
            boots.c.release,
            predecessor,
            boots.c.how,
            depth,
            facts,
            day,
            sa.func.count().label("boots"),
            # Whole seconds, summed as integers: float sums differ with the
            # order of addition, and every engine must give the same table.
            sa.func.coalesce(sa.func.sum(_WholeSeconds(boots.c.hours)), 0).label("seconds"),
            sa.func.coalesce(sa.func.sum(sa.case((per_boot.c.n > 0, 1), else_=0)), 0).label(
                "crashed_boots"
            ),
            sa.func.coalesce(sa.func.sum(per_boot.c.n), 0).label("crashes"),
            sa.func.coalesce(sa.func.sum(early), 0).label("early"),
        )
        .select_from(joined)
        .group_by(boots.c.release, predecessor, boots.c.how, depth, facts, day)
    )
    with store.transaction("counting boots") as connection:
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
    joined, per_boot = with_crash_counts(boots)
    predecessor = predecessor_of_boot().label("predecessor")
    crashed_host = sa.case((per_boot.c.n > 0, boots.c.host_id), else_=sa.null())
    query = (
        sa.select(
            boots.c.release,
            predecessor,
            sa.func.count(sa.distinct(boots.c.host_id)),
            sa.func.count(sa.distinct(crashed_host)),
        )
        .select_from(joined)
        .group_by(boots.c.release, predecessor)
    )
    with store.transaction("counting hosts") as connection:
        return {(r[0], r[1]): HostSpread(int(r[2]), int(r[3])) for r in connection.execute(query)}


def title_rows(store: Store) -> list[TitleRow]:
    """Boots with a crash of each title, aggregated by the database."""
    predecessor = predecessor_of_boot().label("predecessor")
    query = (
        sa.select(
            crashes.c.title,
            boots.c.release,
            predecessor,
            boots.c.how,
            sa.func.count(sa.distinct(boots.c.id)).label("crashed_boots"),
        )
        .select_from(
            crashes.join(
                boots,
                sa.and_(boots.c.host_id == crashes.c.host_id, boots.c.boot_id == crashes.c.boot_id),
            )
        )
        .group_by(crashes.c.title, boots.c.release, predecessor, boots.c.how)
    )
    with store.transaction("counting titles") as connection:
        return sorted(
            TitleRow(r.title, r.release, r.predecessor, r.how, int(r.crashed_boots))
            for r in connection.execute(query)
        )


def transitions(store: Store, release: str | None = None) -> list[Transition]:
    """The fleet's transitions as stored now, as ``GET /v1/transitions`` gives them;
    only those into ``release`` where it is given."""
    joined, per_boot = with_crash_counts(boots)
    predecessor = predecessor_of_boot().label("predecessor")
    query = (
        sa.select(
            boots.c.release,
            predecessor,
            sa.func.count().label("boots"),
            sa.func.count(per_boot.c.n).label("crashed_boots"),
            sa.func.coalesce(sa.func.sum(per_boot.c.n), 0).label("crashes"),
            sa.func.coalesce(sa.func.sum(boots.c.hours), 0.0).label("boot_hours"),
        )
        .select_from(joined)
        .group_by(boots.c.release, predecessor)
    )
    if release is not None:
        query = query.where(boots.c.release == release)
    with store.transaction("counting transitions") as connection:
        found = [
            Transition(
                r.release,
                r.predecessor,
                int(r.boots),
                int(r.crashed_boots),
                int(r.crashes),
                float(r.boot_hours),
            )
            for r in connection.execute(query)
        ]
    return sorted(found, key=lambda t: (t.release, predecessor_key(t.predecessor)))
