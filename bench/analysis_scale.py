"""Analysis of 10M and 30M boots in SQLite, against one ``GROUP BY release`` scan of
the same boots (SQLite answers it from the covering index on (release, previous
release): the cheapest read of every boot there is).

The fleets are those of :mod:`bench.fleet_history` (generated once per machine);
``BENCH_BOOTS`` lists the sizes, comma-separated. Each figure is the best of
three runs, after one that warms the caches.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from bench.fleet_history import fleet_store
from bench.timing import best_of
from kexec_lineage.fleet.analysis import analyze
from kexec_lineage.fleet.schema import boots, count_cells
from kexec_lineage.fleet.store import Store
from kexec_lineage.fleet.weighing_sql import weighed_tables

RUNS = 3
SIZES = [int(n) for n in os.environ.get("BENCH_BOOTS", "10000000,30000000").split(",")]


def _scan(store: Store) -> Callable[[], Any]:
    def run() -> Any:
        with store.transaction("baseline") as connection:
            query = sa.select(boots.c.release, sa.func.count()).group_by(boots.c.release)
            return connection.execute(query).all()

    return run


def main() -> int:
    print("seconds, and in parentheses x the scan of the same boots")
    print(
        f"{'boots':>12}{'cells':>9}{'rows':>7}{'tests':>6}{'scan':>8}"
        f"{'read, weighed':>19}{'statistics':>17}{'analysis':>17}"
    )
    for size in SIZES:
        store = fleet_store(size)
        with store.transaction("counting cells") as connection:
            cells = connection.execute(sa.select(sa.func.count()).select_from(count_cells)).scalar()
        scan, _ = best_of(RUNS, _scan(store), warm=True)
        read, tables = best_of(RUNS, functools.partial(weighed_tables, store), warm=True)
        tested, result = best_of(
            RUNS,
            functools.partial(
                analyze, tables.counts, tables.titles, tables.spread, fact_sets=tables.fact_sets
            ),
            warm=True,
        )
        store.dispose()
        timed = "".join(
            f"{seconds:>9.3f} ({seconds / scan:5.2f})" for seconds in (read, tested, read + tested)
        )
        print(
            f"{size:>12,}{cells or 0:>9,}{len(tables.counts.rows):>7,}{result.tests:>6}{scan:>8.3f}"
            f"  {timed}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
