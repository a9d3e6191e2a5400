"""
Count upkeep
------------

The count tables of :mod:`kexec_lineage.fleet.schema` kept in step with the
boots and crashes stored, in the same transaction: every analysis reads these
sums, so that its cost grows with the number of cells, not of boots.

A stored boot counts once, by what it is now: its cell (release, predecessor,
how, depth bucket, fact set, day, early window of its first crash), its boot-
seconds, its crashes and their titles, and its host's share of its transition;
and its boot-hours and start in what its host's boots claim (``host_claims``).
A batch that changes a boot (a later report naming its predecessor, uptime
grown, a crash arriving) takes back what the boot counted and counts it anew;
a record sent again changes nothing, so counts nothing. :func:`recount` makes
the same tables from the raw rows, as a migration and the tests do.

A batch counts from what it read of its boots, so batches of one host must not
overlap: the store's first write of a batch is to its hosts' rows (their last
seen time), whose row locks PostgreSQL holds until the batch commits (SQLite has
one writer at a time anyway). Cells are changed by adding, which commutes, so
batches of other hosts need no lock.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from kexec_lineage.fleet.count_sql import (
    Day,
    WholeSeconds,
    depth_of_boot,
    early_by_sql,
    predecessor_of_boot,
    with_crash_counts,
)
from kexec_lineage.fleet.count_table import day_of, depth_bucket, early_by, whole_seconds
from kexec_lineage.fleet.schema import (
    boots,
    count_cells,
    count_state,
    crashes,
    fact_sets,
    host_claims,
    host_transitions,
    spread_cells,
    title_cells,
)
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.transition import predecessor_of

__all__ = (
    "RULES",
    "Counted",
    "CrashList",
    "Deltas",
    "boot_keys",
    "crashes_of",
    "of_boots",
    "recount",
    "recount_if_stale",
    "rows_of_boots",
    "upsert_insert",
)

#: The rules of counting the tables follow: raise it with any change of what a boot
#: counts as (depth buckets, early windows, a cell's key), and every store is recounted
#: when next opened.
RULES = 1

#: (title, seconds since boot or None) of each crash of a boot
CrashList = Sequence[tuple[str, float | None]]


class Counted(NamedTuple):
    """What of a stored boot its counts depend on (crashes aside): a tuple, made for
    every boot a batch stores or changes."""

    host_id: int
    release: str
    predecessor: str
    how: str
    depth: int
    facts: str
    day: int
    seconds: int

    @staticmethod
    def of(
        host_id: int, boot: Boot, started_at: float | None, hours: float | None, facts: str
    ) -> Counted:
        return Counted(
            host_id,
            boot.release,
            predecessor_of(boot),
            boot.how,
            depth_bucket(boot.kexec_count),
            facts,
            day_of(started_at),
            whole_seconds(hours),
        )


def _new_pair() -> list[int]:
    return [0, 0]


def _new_cell() -> list[int]:
    return [0, 0, 0, 0]


class Deltas:
    """What one batch adds to and takes from the count tables."""

    def __init__(self) -> None:
        self.cells: dict[tuple[Any, ...], list[int]] = defaultdict(_new_cell)
        self.titles: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0])
        self.hosts: dict[tuple[Any, ...], list[int]] = defaultdict(_new_pair)
        self.claims: dict[int, tuple[float, float | None]] = {}

    def add(self, boot: Counted, crashed: CrashList, sign: int = 1) -> None:
        """Count ``boot`` with its crashes (``sign`` -1: take it back)."""
        release, predecessor, how = boot.release, boot.predecessor, boot.how
        hit = window = 0
        if crashed:  # (nearly every boot has none)
            hit = 1
            known = [at for _, at in crashed if at is not None]
            window = early_by(min(known)) if known else 0
            for title in {title for title, _ in crashed}:
                self.titles[(title, release, predecessor, how)][0] += sign
        cell = self.cells[(release, predecessor, how, boot.depth, boot.facts, boot.day, window)]
        cell[0] += sign
        cell[1] += sign * boot.seconds
        cell[2] += sign * hit
        cell[3] += sign * len(crashed)
        share = self.hosts[(release, predecessor, boot.host_id)]
        share[0] += sign
        share[1] += sign * hit

    def claim(self, host_id: int, hours: float, started_at: float | None) -> None:
        """Add ``hours`` to what the host's boots claim, and a boot started at
        ``started_at`` (a stored start never changes: the earliest only moves back)."""
        total, first = self.claims.get(host_id, (0.0, None))
        if started_at is not None and (first is None or started_at < first):
            first = started_at
        self.claims[host_id] = (total + hours, first)

    def apply(self, connection: Connection) -> None:
        """Add the deltas to the stored tables; cells counting nothing any more go."""
        if self.claims:
            _add_claims(connection, self.claims)
        _add(connection, count_cells, self.cells)
        _add(connection, title_cells, self.titles)
        now = _add(connection, host_transitions, self.hosts, returning=True)
        spread: dict[tuple[Any, ...], list[int]] = defaultdict(_new_pair)
        for key, (boots_now, crashed_now) in now.items():
            delta = self.hosts[key]
            was = (boots_now - delta[0], crashed_now - delta[1])
            change = spread[key[:2]]
            change[0] += (boots_now > 0) - (was[0] > 0)
            change[1] += (crashed_now > 0) - (was[1] > 0)
        _add(connection, spread_cells, spread)


@functools.cache
def _claiming(dialect: str) -> Any:
    insert = upsert_insert(dialect, host_claims)
    c, new = host_claims.c, insert.excluded
    earlier = sa.or_(c.first_start.is_(None), new.first_start < c.first_start)
    return insert.on_conflict_do_update(
        index_elements=["host_id"],
        set_={
            "boot_hours": c.boot_hours + new.boot_hours,
            "first_start": sa.case((earlier, new.first_start), else_=c.first_start),
        },
    )


def _add_claims(connection: Connection, claims: Mapping[int, tuple[float, float | None]]) -> None:
    connection.execute(
        _claiming(connection.dialect.name),
        [
            {"host_id": host_id, "boot_hours": hours, "first_start": first}
            for host_id, (hours, first) in sorted(claims.items())
        ],
    )


def upsert_insert(dialect: str, table: sa.Table) -> Any:
    """An INSERT into ``table`` with the ON CONFLICT clauses of ``dialect`` (a name)."""
    return (sqlite_insert if dialect == "sqlite" else pg_insert)(table)


def _add(
    connection: Connection,
    table: sa.Table,
    deltas: Mapping[tuple[Any, ...], list[int]],
    *,
    returning: bool = False,
) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """Add ``deltas`` (key -> amounts, in the table's column order) to ``table``, in one
    statement of many rows; then drop the rows whose first amount fell to 0. With
    ``returning``, the amounts each changed row holds now."""
    keys = [c.name for c in table.primary_key.columns]
    amounts = [c.name for c in table.columns if c.name not in keys]
    rows = [
        dict(zip(keys, key, strict=True)) | dict(zip(amounts, values, strict=True))
        for key, values in deltas.items()
        if any(values)
    ]
    if not rows:
        return {}
    upsert, emptying = _adding(connection.dialect.name, table, returning)
    now: dict[tuple[Any, ...], tuple[int, ...]] = {}
    if returning:
        result = connection.execute(upsert, rows)
        now = {tuple(r[: len(keys)]): tuple(r[len(keys) :]) for r in result}
    else:
        connection.execute(upsert, rows)
    emptied = [r for r in rows if r[amounts[0]] < 0]
    if emptied:
        connection.execute(emptying, [{f"k_{k}": r[k] for k in keys} for r in emptied])
    return now


@functools.cache
def _adding(dialect: str, table: sa.Table, returning: bool) -> tuple[Any, sa.Delete]:
    """The statements of :func:`_add` for ``table``, made once: every batch runs them,
    and SQLAlchemy building them anew each time was more than half the time of writing
    the counts (the ingest bench's 40 batches: 74 ms, against 34 ms)."""
    keys = [c.name for c in table.primary_key.columns]
    amounts = [c.name for c in table.columns if c.name not in keys]
    insert = upsert_insert(dialect, table)
    upsert = insert.on_conflict_do_update(
        index_elements=keys, set_={a: table.c[a] + insert.excluded[a] for a in amounts}
    )
    where = [table.c[k] == sa.bindparam(f"k_{k}") for k in keys]
    emptying = table.delete().where(*where, table.c[amounts[0]] <= 0)
    return (upsert.returning(*table.c) if returning else upsert), emptying


def boot_keys(
    connection: Connection, keys: Iterable[tuple[int, str]]
) -> tuple[int, dict[str, Any]]:
    """The boots ``keys`` (host id, boot id) as the parameters of :func:`of_boots`: how
    many hosts they are of, and each host's id and boot ids."""
    by_host: dict[int, list[str]] = defaultdict(list)
    for host_id, boot_id in keys:
        by_host[host_id].append(boot_id)
    array = connection.dialect.name == "postgresql"
    params: dict[str, Any] = {}
    for n, (host_id, ids) in enumerate(sorted(by_host.items())):
        params[f"host_{n}"] = host_id
        params[f"ids_{n}"] = ids if array else json.dumps(ids)
    return len(by_host), params


@functools.cache
def of_boots(dialect: str, table: sa.Table, hosts: int) -> sa.ColumnElement[bool]:
    """Rows of ``table`` (a boot's, or a crash's) of boots of ``hosts`` hosts, given as
    the parameters of :func:`boot_keys`: a condition the unique (host, boot) index
    answers, made once for each number of hosts (SQLAlchemy builds a statement at a
    cost a batch notices). An IN of (host, boot) pairs makes SQLite scan the whole
    index, every batch; a host's boot ids go as one parameter instead, a JSON list that
    SQLite reads with json_each, and on PostgreSQL an array: psycopg prepares a
    statement from its fifth run, and the generic plan of an IN of 500 parameters
    searches them row by row (a batch of one host with 15,000 boots stored: 90 ms,
    against 4 ms for the array)."""

    def among(n: int) -> sa.ColumnElement[bool]:
        if dialect == "postgresql":
            values = sa.bindparam(f"ids_{n}", type_=sa.ARRAY(table.c.boot_id.type))
            return table.c.boot_id.in_(sa.select(sa.func.unnest(values)))
        listed = sa.func.json_each(sa.bindparam(f"ids_{n}", type_=sa.Text))
        return table.c.boot_id.in_(sa.select(listed.table_valued("value").c.value))

    return sa.or_(
        *(sa.and_(table.c.host_id == sa.bindparam(f"host_{n}"), among(n)) for n in range(hosts))
    )


@functools.cache
def _crashes_of_hosts(dialect: str, hosts: int) -> sa.Select[Any]:
    c = crashes.c
    return sa.select(c.host_id, c.boot_id, c.title, c.uptime).where(
        of_boots(dialect, crashes, hosts)
    )


def crashes_of(
    connection: Connection, keys: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], list[tuple[str, float | None]]]:
    """(host id, boot id) -> (title, time since boot) of each stored crash of the boot."""
    out: dict[tuple[int, str], list[tuple[str, float | None]]] = defaultdict(list)
    for host_id, boot_id, title, uptime in rows_of_boots(
        connection, _crashes_of_hosts, sorted(set(keys))
    ):
        out[(host_id, boot_id)].append((title, uptime))
    return out


def rows_of_boots(
    connection: Connection,
    statement: Callable[[str, int], sa.Select[Any]],
    keys: Sequence[tuple[int, str]],
) -> Iterator[sa.Row[*tuple[Any, ...]]]:
    """The rows that ``statement`` (made for a dialect's name and a number of hosts, with
    :func:`of_boots`) finds of the boots ``keys``, 500 boots a statement (within the
    drivers' parameter limits)."""
    for i in range(0, len(keys), 500):
        hosts, params = boot_keys(connection, keys[i : i + 500])
        yield from connection.execute(statement(connection.dialect.name, hosts), params)


def recount(connection: Connection) -> None:
    """Make the count tables anew from the boots and crashes stored."""
    for table in (host_claims, spread_cells, host_transitions, title_cells, count_cells):
        connection.execute(table.delete())
    joined, per_boot = with_crash_counts(
        boots.outerjoin(fact_sets, fact_sets.c.id == boots.c.fact_set_id)
    )
    predecessor, depth = predecessor_of_boot(), depth_of_boot()
    facts = sa.func.coalesce(fact_sets.c.digest, "")
    day, window = Day(boots.c.started_at), early_by_sql(per_boot.c.first)
    crashed = sa.case((per_boot.c.n > 0, 1), else_=0)
    key = (boots.c.release, predecessor, boots.c.how, depth, facts, day, window)
    cells = sa.select(
        *key,
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(WholeSeconds(boots.c.hours)), 0),
        sa.func.coalesce(sa.func.sum(crashed), 0),
        sa.func.coalesce(sa.func.sum(per_boot.c.n), 0),
    ).select_from(joined)
    _fill(connection, count_cells, cells.group_by(*key))
    titled = (
        sa.select(
            crashes.c.title,
            boots.c.release,
            predecessor,
            boots.c.how,
            sa.func.count(sa.distinct(boots.c.id)),
        )
        .select_from(
            crashes.join(
                boots,
                sa.and_(boots.c.host_id == crashes.c.host_id, boots.c.boot_id == crashes.c.boot_id),
            )
        )
        .group_by(crashes.c.title, boots.c.release, predecessor, boots.c.how)
    )
    _fill(connection, title_cells, titled)
    # The join of the cells serves: a boot has one fact set at most.
    shares = (
        sa.select(
            boots.c.release, predecessor, boots.c.host_id, sa.func.count(), sa.func.sum(crashed)
        )
        .select_from(joined)
        .group_by(boots.c.release, predecessor, boots.c.host_id)
    )
    _fill(connection, host_transitions, shares)
    ht = host_transitions.c
    spread = sa.select(
        ht.release,
        ht.predecessor,
        sa.func.count(),
        sa.func.sum(sa.case((ht.crashed_boots > 0, 1), else_=0)),
    ).group_by(ht.release, ht.predecessor)
    _fill(connection, spread_cells, spread)
    b = boots.c
    claims = sa.select(
        b.host_id, sa.func.coalesce(sa.func.sum(b.hours), 0.0), sa.func.min(b.started_at)
    ).group_by(b.host_id)
    _fill(connection, host_claims, claims)
    connection.execute(count_state.delete())
    connection.execute(count_state.insert().values(id=1, rules=RULES))


def _fill(connection: Connection, table: sa.Table, query: sa.Select[Any]) -> None:
    connection.execute(table.insert().from_select([c.name for c in table.columns], query))


def recount_if_stale(connection: Connection) -> bool:
    """:func:`recount` where the tables follow other rules than :data:`RULES` (or none,
    as a store migrated to them has); whether it did."""
    rules = connection.execute(sa.select(count_state.c.rules)).scalar()
    if rules == RULES:
        return False
    recount(connection)
    return True
