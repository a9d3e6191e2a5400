"""The count tables weighed inside the database equal the Python weighing, and the
analysis of either equals the analysis of the simulator's own count rows."""

from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kexec_lineage.errors import InputError
from kexec_lineage.fleet.analysis import analyze
from kexec_lineage.fleet.count_queries import count_rows, fact_set_table, host_spread, title_rows
from kexec_lineage.fleet.count_table import EARLY_SECONDS
from kexec_lineage.fleet.store import Store, open_store
from kexec_lineage.fleet.weighing import weigh
from kexec_lineage.fleet.weighing_sql import weighed
from kexec_lineage.model.wire import BootRecord, CrashRecord
from kexec_lineage.sim.database import write_db
from kexec_lineage.sim.fleet import simulate
from tests.fleet.results import differences
from tests.fleet.test_count_upkeep import records


def test_weighed_in_the_database_as_in_python(store: Store) -> None:
    # A fleet-wide incident makes the days' weights differ from 1.
    write_db(simulate(2000, 60, 2, "incident"), store)
    rows, spread = count_rows(store), host_spread(store)
    python, sql = weigh(rows, spread), weighed(store)
    assert len({r.day for r in rows}) > 30 and len(sql.rows) < len(rows) / 2
    assert (
        differences([_fields(r) for r in sql.rows], [_fields(r) for r in sorted(python.rows)]) == []
    )
    unweighed: dict[tuple[Any, ...], float] = {}
    for r in rows:
        key = (r.release, r.predecessor, r.how, r.depth, r.facts)
        unweighed[key] = unweighed.get(key, 0.0) + r.hours
    changed = [r for r in sql.rows if not math.isclose(r.hours, unweighed[tuple(_fields(r)[:5])])]
    assert len(changed) > len(sql.rows) / 2
    assert (
        differences(
            [t.as_dict() for t in sql.transitions], [t.as_dict() for t in python.transitions]
        )
        == []
    )
    assert (sql.boots, sql.crashed_boots) == (python.boots, python.crashed_boots)


@pytest.mark.parametrize(("kind", "seed"), [("fact", 12), ("culprit", 1), ("early", 12)])
def test_analysis_of_the_store_is_the_simulators(tmp_path: Path, kind: str, seed: int) -> None:
    # Fleets as the detection test makes them: analysed from the store's cells, weighed
    # in SQL, and from the simulator's count rows in memory, they give one result.
    fleet = simulate(5000, 60, seed, kind)
    store = open_store(str(tmp_path / "fleet.db"))
    try:
        write_db(fleet, store)
        from_store = analyze(
            weighed(store), title_rows(store), host_spread(store), fact_sets=fact_set_table(store)
        ).as_dict()
    finally:
        store.dispose()
    assert from_store["suspects"] or from_store["culprits"] or from_store["early"], kind
    in_memory = analyze(
        fleet.count_rows(),
        fleet.title_rows(),
        fleet.host_spread(),
        fact_sets=fleet.fact_set_table(),
    )
    assert differences(from_store, in_memory.as_dict()) == []


def _fields(row: Any) -> list[Any]:
    return [getattr(row, name) for name in row.__slots__]


def test_an_early_window_not_kept_is_refused(store: Store) -> None:
    with pytest.raises(InputError, match="early window must be one of"):
        weighed(store, 7 * 60)


@settings(
    max_examples=25,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_store_is_weighed_in_the_database_as_in_python(
    store: Store, data: st.DataObject
) -> None:
    # Stores of few boots: unknown days and hours, kdump boots, unknown predecessors,
    # transitions below MIN_HOSTS, early crashes; the empty store first. One store for
    # every example, each example's hosts its own, the whole store compared each time.
    for early in (EARLY_SECONDS, 60):
        python, sql = weigh(count_rows(store, early), host_spread(store)), weighed(store, early)
        assert (
            differences([_fields(r) for r in sql.rows], [_fields(r) for r in sorted(python.rows)])
            == []
        )
        assert (
            differences(
                [t.as_dict() for t in sql.transitions], [t.as_dict() for t in python.transitions]
            )
            == []
        )
        assert (sql.boots, sql.crashed_boots) == (python.boots, python.crashed_boots)
    sent = data.draw(records(uuid.uuid4().hex[:8] + "-"))
    store.ingest_boots([r for r in sent if isinstance(r, BootRecord)])
    store.ingest_crashes([r for r in sent if isinstance(r, CrashRecord)])
