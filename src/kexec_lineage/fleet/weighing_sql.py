"""
Weighing in SQL
---------------

:func:`~kexec_lineage.fleet.weighing.weigh` inside the store's database: one
query sums the cells per transition, how and day (what the days' weights, the
transitions and the totals are made of), the weights follow from those sums in
Python (:func:`~kexec_lineage.fleet.weighing.day_weights`), and a second query
sums the cells over their days with those weights. What leaves the database is
one row per (release, predecessor, how, depth, fact set), however many days and
early windows the store keeps, which the tests of
:mod:`kexec_lineage.fleet.analysis` read as they read :func:`weigh`'s rows.
Transitions of too few hosts are left out in Python: a join per cell would cost
the database more than the sums.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from kexec_lineage.fleet.count_queries import (
    day_sums,
    early_crashed_boots,
    fact_set_table,
    host_spread,
    title_rows,
)
from kexec_lineage.fleet.count_table import EARLY_SECONDS, NO_DAY, CountRow, HostSpread, TitleRow
from kexec_lineage.fleet.schema import count_cells, spread_cells
from kexec_lineage.fleet.weighing import MIN_HOSTS, Weighed, day_weights, known_transitions

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from kexec_lineage.fleet.store import Store

__all__ = ("WeighedTables", "weighed", "weighed_tables")

_KEY = ("release", "predecessor", "how", "depth", "facts")


@dataclass(frozen=True, slots=True)
class WeighedTables:
    """Everything the analysis reads of a store, its count rows weighed, and the
    :func:`~kexec_lineage.fleet.count_queries.day_sums` they were weighed with."""

    counts: Weighed
    titles: Sequence[TitleRow]
    spread: Mapping[tuple[str, str], HostSpread]
    fact_sets: Mapping[str, Mapping[str, str]]
    days: Sequence[CountRow]


def weighed_tables(store: Store, early_seconds: float = EARLY_SECONDS) -> WeighedTables:
    """:func:`weighed` and the other count tables of ``store``.

    :raises InputError: ``early_seconds`` is not one of the windows kept.
    """
    counts, days = _weighed(store, early_seconds)
    return WeighedTables(counts, title_rows(store), host_spread(store), fact_set_table(store), days)


def weighed(store: Store, early_seconds: float = EARLY_SECONDS) -> Weighed:
    """The store's count tables weighed, with ``early_seconds`` the early window.

    :raises InputError: ``early_seconds`` is not one of the windows kept.
    """
    return _weighed(store, early_seconds)[0]


def _weighed(store: Store, early_seconds: float) -> tuple[Weighed, list[CountRow]]:
    early = early_crashed_boots(early_seconds)
    with store.transaction("weighing the count tables") as connection:
        gated = {
            (r, p)
            for r, p in connection.execute(
                sa.select(spread_cells.c.release, spread_cells.c.predecessor).where(
                    spread_cells.c.hosts >= MIN_HOSTS
                )
            )
        }
        days = day_sums(connection)
        hours, weights = day_weights(
            (r.day, r.crashed_boots, r.hours, r.boots)
            for r in days
            if (r.release, r.predecessor) in gated
        )
        counts = Weighed(
            _rows(connection, early, gated, weights, hours),
            known_transitions(days),
            sum(r.boots for r in days),
            sum(r.crashed_boots for r in days),
        )
    return counts, days


def _rows(
    connection: Connection,
    early: sa.ColumnElement[int],
    gated: set[tuple[str, str]],
    weights: dict[int, float],
    hours: bool,
) -> list[CountRow]:
    c = count_cells.c
    if not weights:
        return []
    weight = _weight_of(c.day, sorted(weights.items()))
    exposure = c.seconds if hours else c.boots
    key = [c[name] for name in _KEY]
    query = sa.select(
        *key,
        sa.func.sum(c.boots),
        sa.func.sum(exposure * weight),
        sa.func.sum(c.crashed_boots),
        sa.func.sum(c.crashes),
        sa.func.coalesce(sa.func.sum(early), 0),
    ).group_by(*key)
    scale = 3600 if hours else 1
    return sorted(
        CountRow(r, p, how, int(d), f, NO_DAY, int(n), float(e) / scale, int(x), int(k), int(y))
        for r, p, how, d, f, n, e, x, k, y in connection.execute(query)
        if (r, p) in gated
    )


def _weight_of(
    day: sa.ColumnElement[int], weights: Sequence[tuple[int, float]]
) -> sa.ColumnElement[float]:
    """The weight of ``day`` (1 where none is given), as a CASE that halves the days at
    each level: in a flat CASE of a year of days, every cell would compare its day with
    each of them."""
    if len(weights) <= _LEAF_DAYS:
        return sa.case(
            {d: sa.literal(w, sa.Float) for d, w in weights}, value=day, else_=sa.literal(1.0)
        )
    half = len(weights) // 2
    return sa.case(
        (day < weights[half][0], _weight_of(day, weights[:half])),
        else_=_weight_of(day, weights[half:]),
    )


#: Days a CASE of :func:`_weight_of` compares one by one.
_LEAF_DAYS = 8
