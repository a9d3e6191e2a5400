"""The count tables kept at ingest, on a real SQLite file and a real PostgreSQL server:
whatever order boots and crashes arrive in, sent again or corrected, they equal a
recount from the raw rows."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kexec_lineage.errors import InputError
from kexec_lineage.fleet.count_queries import count_rows, host_spread, title_rows, transitions
from kexec_lineage.fleet.count_table import CountRow, HostSpread, TitleRow
from kexec_lineage.fleet.count_upkeep import RULES, boot_keys, of_boots, recount
from kexec_lineage.fleet.schema import (
    boots,
    count_cells,
    count_state,
    crashes,
    host_claims,
    host_transitions,
    hosts,
    spread_cells,
    title_cells,
)
from kexec_lineage.fleet.store import Store, _alembic_config, boot_row, crash_row, open_store
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.crash import Crash
from kexec_lineage.model.transition import COLD, UNKNOWN
from kexec_lineage.model.wire import BootRecord, CrashRecord, facts_digest

COUNT_TABLES = (count_cells, title_cells, host_transitions, spread_cells, host_claims)
DAY = 20_605
T0 = DAY * 86400.0


def snapshot(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the count tables (host ids as host names: ids differ by engine)."""
    out = {}
    with store.transaction("reading counts") as connection:
        names = dict(connection.execute(sa.select(hosts.c.id, hosts.c.name)).all())
        for table in COUNT_TABLES:
            found = [tuple(r) for r in connection.execute(sa.select(table))]
            if table is host_transitions:
                found = [(r, p, names[h], n, x) for r, p, h, n, x in found]
            if table is host_claims:
                # Hours added up batch by batch, or in one sum: equal but for rounding.
                found = [(names[h], round(hours, 6), start) for h, hours, start in found]
            out[table.name] = sorted(found)
    return out


def recounted(store: Store) -> dict[str, list[tuple[object, ...]]]:
    with store.transaction("recounting") as connection:
        recount(connection)
    return snapshot(store)


def boot(host: str, boot_id: str, **fields: object) -> Boot:
    base = Boot(host, boot_id, "7.2.0", "kexec", "7.1.0", 1)
    return Boot.from_dict(base.as_dict() | fields)


def crash(title: str, uptime: float | None, report: str = "trace") -> Crash:
    return Crash(title, (), "", "f", panicked=True, report=report, uptime=uptime)


def test_a_story_of_corrections_is_counted_as_it_ends(store: Store) -> None:
    # A crash before its boot; the boot without its predecessor, then with it; its
    # uptime grows, its facts change; a second crash of another title; all sent twice.
    la57 = {"cpu.flag.la57": "1"}
    sent: list[BootRecord | CrashRecord] = [
        CrashRecord("web-1", "b-1", crash("BUG: a", 200.0)),
        BootRecord(boot("web-1", "b-1", previous_release=None), T0 + 60, 1.0),
        BootRecord(boot("web-1", "b-1"), T0 + 60, 2.5, la57),
        CrashRecord("web-1", "b-1", crash("WARNING in b", 30.0)),
        BootRecord(boot("web-1", "b-2", how="cold", previous_release=None, kexec_count=0)),
    ]
    for record in [*sent, *sent]:
        if isinstance(record, BootRecord):
            store.ingest_boots([record])
        else:
            store.ingest_crashes([record])
    digest = facts_digest(la57)
    assert count_rows(store) == [
        CountRow("7.2.0", "7.1.0", "kexec", 1, digest, DAY, 1, 2.5, 1, 2, 1),
        CountRow("7.2.0", COLD, "cold", 0, "", -1, 1, 0.0, 0, 0, 0),
    ]
    # Its first crash came within a minute: early in any window kept.
    assert count_rows(store, 60)[0].early_crashed_boots == 1
    assert title_rows(store) == [
        TitleRow("BUG: a", "7.2.0", "7.1.0", "kexec", 1),
        TitleRow("WARNING in b", "7.2.0", "7.1.0", "kexec", 1),
    ]
    assert host_spread(store) == {
        ("7.2.0", "7.1.0"): HostSpread(1, 1),
        ("7.2.0", COLD): HostSpread(1, 0),
    }
    assert [(t.predecessor, t.boots, t.crashes) for t in transitions(store)] == [
        (COLD, 1, 0),
        ("7.1.0", 1, 2),
    ]
    before = snapshot(store)
    assert recounted(store) == before
    assert UNKNOWN not in {r[1] for r in before["count_cells"]}


def test_an_early_window_not_kept_is_refused(store: Store) -> None:
    with pytest.raises(InputError, match="one of 1, 2, 5, 10, 15, 30, 60 minutes, not 7"):
        count_rows(store, 7 * 60)


HOSTS = ("web-1", "web-2", "db-1")
TITLES = ("BUG: a", "BUG: b", "WARNING in c")


@st.composite
def records(draw: st.DrawFn, prefix: str) -> list[BootRecord | CrashRecord]:
    """Reports of a few boots of a few hosts and their crashes, each maybe several
    times, poorer or richer, in any order."""
    out: list[BootRecord | CrashRecord] = []
    for _ in range(draw(st.integers(1, 25))):
        host = prefix + draw(st.sampled_from(HOSTS))
        boot_id = f"b-{draw(st.integers(0, 4))}"
        if draw(st.booleans()):
            title = draw(st.sampled_from(TITLES))
            uptime = draw(st.one_of(st.none(), st.floats(0, 7200)))
            # The same title twice in a boot is another report, another crash.
            report = draw(st.sampled_from(["trace", "other trace"]))
            out.append(CrashRecord(host, boot_id, crash(title, uptime, report)))
            continue
        how = draw(st.sampled_from(["kexec", "cold", "kdump"]))
        fields = {
            "release": draw(st.sampled_from(["7.2.0", "7.2.1"])),
            "how": how,
            "previous_release": None if how == "cold" else draw(st.sampled_from([None, "7.1.0"])),
            "kexec_count": 0 if how == "cold" else draw(st.integers(1, 20)),
        }
        facts = draw(st.sampled_from([{}, {"cpu.flag.la57": "1"}, {"cpu.flag.la57": "0"}]))
        started = draw(st.one_of(st.none(), st.floats(T0, T0 + 3 * 86400)))
        hours = draw(st.one_of(st.none(), st.floats(0, 100)))
        out.append(BootRecord(boot(host, boot_id, **fields), started, hours, facts))
    return out


@settings(
    max_examples=40,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_counts_kept_at_ingest_equal_a_recount(store: Store, data: st.DataObject) -> None:
    # One store for every example: each example's hosts are its own.
    sent = data.draw(records(uuid.uuid4().hex[:8] + "-"))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(sent)), max_size=4)))
    for start, end in zip([0, *cuts], [*cuts, len(sent)], strict=True):
        batch = sent[start:end]
        boots_sent = [r for r in batch if isinstance(r, BootRecord)]
        crashes_sent = [r for r in batch if isinstance(r, CrashRecord)]
        # Crashes of a batch first or boots first: both orders happen.
        crashes_first = data.draw(st.booleans())
        if crashes_first and crashes_sent:
            store.ingest_crashes(crashes_sent)
        if boots_sent:
            store.ingest_boots(boots_sent)
        if not crashes_first and crashes_sent:
            store.ingest_crashes(crashes_sent)
    kept = snapshot(store)
    assert recounted(store) == kept


def test_a_store_from_before_the_count_tables_is_counted_when_opened(db_url: str) -> None:
    """0003 -> 0004: the boots and crashes stored are counted."""
    engine = sa.create_engine(db_url)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0003")
        connection.execute(
            hosts.insert(), [{"id": 1, "name": "web-1", "first_seen": 0.0, "last_seen": 0.0}]
        )
        row = boot_row(BootRecord(boot("web-1", "b-1"), T0, 1.0), 1, 0.0)
        connection.execute(sa.table("boots", *(sa.column(k) for k in row)).insert(), [row])
        record = CrashRecord("web-1", "b-1", crash("BUG: a", 5.0))
        old = crash_row(record, (1, "b-1", record.fingerprint), 0.0)
        connection.execute(sa.table("crashes", *(sa.column(k) for k in old)).insert(), [old])
    engine.dispose()
    store = open_store(db_url)
    try:
        assert count_rows(store) == [
            CountRow("7.2.0", "7.1.0", "kexec", 1, "", DAY, 1, 1.0, 1, 1, 1)
        ]
        with store.transaction("reading") as connection:
            assert connection.execute(sa.select(count_state.c.rules)).scalar() == RULES
    finally:
        store.dispose()


def test_a_store_from_before_the_host_claims_sums_them_when_opened(db_url: str) -> None:
    """0004 -> 0005: what each host's stored boots claim is summed from them."""
    engine = sa.create_engine(db_url)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0004")
        connection.execute(
            hosts.insert(),
            [{"id": i, "name": f"web-{i}", "first_seen": 0.0, "last_seen": 0.0} for i in (1, 2)],
        )
        rows = [
            boot_row(BootRecord(boot("web-1", "b-1"), T0 + 60, 1.5), 1, 0.0),
            boot_row(BootRecord(boot("web-1", "b-2"), T0, 2.0), 1, 0.0),
            boot_row(BootRecord(boot("web-2", "b-3")), 2, 0.0),
        ]
        connection.execute(sa.table("boots", *(sa.column(k) for k in rows[0])).insert(), rows)
    engine.dispose()
    store = open_store(db_url)
    try:
        claimed = snapshot(store)["host_claims"]
        assert claimed == [("web-1", 3.5, T0), ("web-2", 0.0, None)]
        assert recounted(store)["host_claims"] == claimed
    finally:
        store.dispose()


def test_batches_of_one_host_at_once_count_every_crash_once(store: Store) -> None:
    # Boots and crashes of one host sent by several clients at the same time: each batch
    # counts from what it read, so that the store serializes them.
    store.ingest_boots([BootRecord(boot("web-1", f"b-{i}"), T0, 1.0) for i in range(20)])
    errors: list[BaseException] = []
    together = threading.Barrier(4)

    def send(n: int) -> None:
        try:
            for i in range(20):
                together.wait()
                store.ingest_crashes([CrashRecord("web-1", f"b-{i}", crash(f"BUG: {n}", 1.0))])
                together.wait()
                store.ingest_boots([BootRecord(boot("web-1", f"b-{i}"), T0, 1.0 + n)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    kept = snapshot(store)
    assert recounted(store) == kept
    (row,) = count_rows(store)
    assert (row.boots, row.crashed_boots, row.crashes) == (20, 20, 80)


@pytest.mark.parametrize("table", [boots, crashes], ids=["boots", "crashes"])
def test_a_batch_finds_its_boots_by_index_not_by_a_scan(tmp_path: Path, table: sa.Table) -> None:
    # SQLite scans a whole index for an IN of (host, boot) pairs: every batch would
    # read every boot stored.
    store = open_store(str(tmp_path / "fleet.db"))
    try:
        with store.engine.connect() as connection:
            hosts, params = boot_keys(connection, [(1, "a"), (1, "b"), (2, "c")])
            query = sa.select(table.c.id).where(of_boots("sqlite", table, hosts)).params(params)
            sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
            plan = [r[3] for r in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    finally:
        store.dispose()
    assert any(step.startswith("SEARCH") for step in plan), plan
    # What it scans is the list of the batch's boot ids (json_each's virtual table).
    scans = [step for step in plan if step.startswith("SCAN")]
    assert all("VIRTUAL TABLE" in step for step in scans), plan
