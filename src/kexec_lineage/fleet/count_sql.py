"""
Count rules in SQL
------------------

How a stored boot is counted, spelled in SQL for SQLite and PostgreSQL alike:
the rules of :mod:`kexec_lineage.fleet.count_table` (:func:`day_of`,
:func:`whole_seconds`, :func:`depth_bucket`, :func:`early_by`) and
:func:`~kexec_lineage.model.transition.predecessor_of`, for a recount from the
raw rows (:mod:`kexec_lineage.fleet.count_upkeep`) and the views of
:mod:`kexec_lineage.fleet.views`. The Spark job of
:mod:`kexec_lineage.fleet.spark` spells them once more; the tests compare all.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from kexec_lineage.fleet.count_table import DEPTH_BUCKETS, EARLY_EDGES, NO_DAY
from kexec_lineage.fleet.schema import boots, crashes
from kexec_lineage.model.transition import COLD, UNKNOWN

__all__ = (
    "Day",
    "WholeSeconds",
    "depth_of_boot",
    "early_by_sql",
    "predecessor_of_boot",
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
