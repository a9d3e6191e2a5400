"""
Count queries
-------------

The count tables of :mod:`kexec_lineage.fleet.count_table` as the store keeps
them (:mod:`kexec_lineage.fleet.count_upkeep`), and the per-transition totals
that ``GET /v1/transitions`` and the dashboard show: reads of a few small
tables, whatever the number of boots.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import sqlalchemy as sa

from kexec_lineage.errors import InputError
from kexec_lineage.fleet.count_table import (
    EARLY_EDGES,
    EARLY_SECONDS,
    CountRow,
    CountTables,
    HostSpread,
    TitleRow,
)
from kexec_lineage.fleet.schema import count_cells, fact_sets, spread_cells, title_cells
from kexec_lineage.model.transition import Transition, predecessor_key

if TYPE_CHECKING:
    from kexec_lineage.fleet.store import Store

__all__ = (
    "count_rows",
    "count_tables",
    "fact_set_table",
    "host_spread",
    "title_rows",
    "transitions",
)


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
