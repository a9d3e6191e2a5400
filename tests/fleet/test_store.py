"""The fleet store on a real SQLite file and a real PostgreSQL server: migrations,
idempotent ingest and enrichment, batch atomicity, chains, transitions, tokens, errors."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kexec_lineage.errors import InputError, StoreError
from kexec_lineage.fleet.count_queries import fact_set_table, transitions
from kexec_lineage.fleet.count_upkeep import recount
from kexec_lineage.fleet.schema import (
    boots,
    count_cells,
    crashes,
    fact_sets,
    hosts,
    spread_cells,
    tokens,
)
from kexec_lineage.fleet.store import (
    HostRecord,
    Store,
    Stored,
    TokenInfo,
    _alembic_config,
    _clean,
    _sorted_json,
    boot_row,
    crash_row,
    database_url,
    open_store,
)
from kexec_lineage.model.boot import Boot, Evidence
from kexec_lineage.model.crash import Crash
from kexec_lineage.model.text import from_kernel
from kexec_lineage.model.wire import BootRecord, CrashRecord, facts_digest, fingerprint
from tests.fleet.conftest import PostgresServer, free_port

KHO = Evidence("kho", True, "7.1.0", 3, "prev-0003", "exec from 7.1.0 (count 3)")
CMDLINE = Evidence("cmdline", True, "7.1.0", 3, None, "kexec_lineage.prev=7.1.0")
LEDGER = Evidence("ledger", True, None, None, "prev-0003", "")
PSTORE = Evidence("pstore", None, "7.1.0", None, None, "Linux version 7.1.0")


def kexec_boot(boot_id: str = "b-0004", *evidence: Evidence, **fields: object) -> Boot:
    boot = Boot("web-1", boot_id, "7.1.2", "kexec", "7.1.0", 3, evidence=evidence)
    return Boot.from_dict(boot.as_dict() | fields) if fields else boot


def panic(title: str = "kernel panic: sysrq triggered crash", report: str = "trace") -> Crash:
    return Crash(title, (), "", "sysrq_handle_crash", panicked=True, report=report)


def rows(store: Store, table: sa.Table) -> list[dict[str, object]]:
    with store.engine.connect() as connection:
        return [dict(r) for r in connection.execute(sa.select(table)).mappings()]


def test_migrations_are_idempotent(db_url: str) -> None:
    first = open_store(db_url)
    first.ingest_boots([BootRecord(kexec_boot())])
    first.dispose()
    again = open_store(db_url)
    try:
        with again.engine.connect() as connection:
            version = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert version.scalars().all() == ["0006"]
            assert set(sa.inspect(connection).get_table_names()) == {
                "alembic_version",
                "boots",
                "count_cells",
                "count_state",
                "crashes",
                "fact_sets",
                "host_claims",
                "host_transitions",
                "hosts",
                "spread_cells",
                "title_cells",
                "tokens",
            }
        assert list(again.chain("web-1")) == [kexec_boot()]
    finally:
        again.dispose()


def test_a_database_from_before_the_crash_flags_keeps_its_crashes(db_url: str) -> None:
    """0001 -> 0002: stored crashes stay, with the flags of a crash that has neither."""
    engine = sa.create_engine(database_url(db_url))
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0001")
        connection.execute(
            hosts.insert(), [{"id": 1, "name": "web-1", "first_seen": 0.0, "last_seen": 0.0}]
        )
        old = {
            k: v
            for k, v in crash_row(
                CrashRecord("web-1", "b-1", panic()), (1, "b-1", "f" * 64), 0.0
            ).items()
            if k not in ("corrupted_reason", "suppressed", "uptime")
        }
        connection.execute(sa.table("crashes", *(sa.column(k) for k in old)).insert(), [old])
    engine.dispose()
    store = open_store(db_url)
    try:
        (row,) = rows(store, crashes)
        assert (row["title"], row["corrupted_reason"], row["suppressed"]) == (
            panic().title,
            "",
            False,
        )
        flagged = Crash("BUG: x", corrupted=True, corrupted_reason="no frames", suppressed=True)
        store.ingest_crashes([CrashRecord("web-1", "b-1", flagged)])
        stored = {
            r["title"]: (r["corrupted_reason"], r["suppressed"]) for r in rows(store, crashes)
        }
        assert stored["BUG: x"] == ("no frames", True)
    finally:
        store.dispose()


def test_a_database_from_before_facts_keeps_its_host_classes(db_url: str) -> None:
    """0002 -> 0003: a host's platform and region become labels of its boots."""
    engine = sa.create_engine(database_url(db_url))
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0002")
        columns = ("id", "name", "platform", "region", "first_seen", "last_seen")
        connection.execute(
            sa.table("hosts", *(sa.column(c) for c in columns)).insert(),
            [
                dict(zip(columns, values, strict=True))
                for values in (
                    (1, "web-1", "x86", "eu", 0.0, 0.0),
                    (2, "web-2", "x86", None, 0.0, 0.0),
                    (3, "db-1", None, None, 0.0, 0.0),
                )
            ],
        )
        for host_id, name in ((1, "web-1"), (2, "web-2"), (3, "db-1")):
            row = boot_row(BootRecord(kexec_boot(host=name)), host_id, 0.0)
            del row["fact_set_id"]
            connection.execute(sa.table("boots", *(sa.column(k) for k in row)).insert(), [row])
    engine.dispose()
    store = open_store(db_url)
    try:
        with store.transaction("reading") as connection:
            found = connection.execute(
                sa.select(hosts.c.name, fact_sets.c.facts)
                .select_from(
                    boots.join(hosts, hosts.c.id == boots.c.host_id).outerjoin(
                        fact_sets, fact_sets.c.id == boots.c.fact_set_id
                    )
                )
                .order_by(hosts.c.name)
            ).all()
        assert [(name, facts and json.loads(facts)) for name, facts in found] == [
            ("db-1", None),
            ("web-1", {"label.platform": "x86", "label.region": "eu"}),
            ("web-2", {"label.platform": "x86"}),
        ]
    finally:
        store.dispose()


def test_facts_are_stored_once_per_set_and_follow_the_boot(store: Store) -> None:
    old_bios = {"dmi.system": "Dell Inc. PowerEdge R750", "dmi.bios_version": "1.10.2"}
    new_bios = old_bios | {"dmi.bios_version": "1.12.0"}
    first, second = kexec_boot("b-1"), kexec_boot("b-2")
    assert store.ingest_boots(
        [BootRecord(first, facts=old_bios), BootRecord(second, facts=old_bios)]
    ) == Stored(inserted=2)
    # The same facts again change nothing; a record without facts keeps them; new
    # facts sent for a boot (the agent read them anew) are its facts.
    assert store.ingest_boots([BootRecord(first, facts=old_bios)]) == Stored(unchanged=1)
    assert store.ingest_boots([BootRecord(first, hours=2.0)]) == Stored(updated=1)
    assert store.ingest_boots([BootRecord(second, facts=new_bios)]) == Stored(updated=1)
    assert fact_set_table(store) == {facts_digest(f): f for f in (old_bios, new_bios)}
    by_boot = {r["boot_id"]: r["fact_set_id"] for r in rows(store, boots)}
    sets = {r["id"]: json.loads(str(r["facts"])) for r in rows(store, fact_sets)}
    assert {b: sets[i] for b, i in by_boot.items()} == {"b-1": old_bios, "b-2": new_bios}


def test_new_boot_is_inserted_and_read_back_whole(store: Store) -> None:
    boot = kexec_boot("b-0004", KHO, CMDLINE, machine_id="m" * 32)
    boot = Boot.from_dict(boot.as_dict() | {"disagreements": ["kho and cmdline differ"]})
    assert store.ingest_boots([BootRecord(boot, 1.5e9, 2.5)]) == Stored(inserted=1)
    assert list(store.chain("web-1")) == [boot]
    (row,) = rows(store, boots)
    assert (row["started_at"], row["hours"]) == (1.5e9, 2.5)


def test_acknowledged_batch_is_visible_to_another_connection(db_url: str, store: Store) -> None:
    store.ingest_boots([BootRecord(kexec_boot())])
    store.ingest_crashes([CrashRecord("web-1", "b-0004", panic())])
    other = open_store(db_url)
    try:
        assert list(other.chain("web-1")) == [kexec_boot()]
        assert len(rows(other, crashes)) == 1
    finally:
        other.dispose()


def test_same_boot_sent_twice_is_stored_once(store: Store) -> None:
    record = BootRecord(kexec_boot("b-0004", KHO))
    assert store.ingest_boots([record]) == Stored(inserted=1)
    assert store.ingest_boots([record]) == Stored(unchanged=1)
    assert len(rows(store, boots)) == 1
    assert len(rows(store, hosts)) == 1


def test_same_boot_twice_in_one_batch_is_stored_once(store: Store) -> None:
    record = BootRecord(kexec_boot("b-0004", KHO))
    assert store.ingest_boots([record, record]) == Stored(inserted=1, unchanged=1)
    assert len(rows(store, boots)) == 1


def test_same_boot_id_on_two_hosts_is_two_boots(store: Store) -> None:
    web1 = kexec_boot("b-0004")
    web2 = Boot.from_dict(web1.as_dict() | {"host": "web-2"})
    assert store.ingest_boots([BootRecord(web1), BootRecord(web2)]) == Stored(inserted=2)
    assert list(store.chain("web-2")) == [web2]


def test_richer_report_enriches_the_stored_boot(store: Store) -> None:
    store.ingest_boots([BootRecord(kexec_boot("b-0004", PSTORE, previous_release=None))])
    richer = kexec_boot("b-0004", KHO, CMDLINE, machine_id="m-1", release="7.1.3")
    assert store.ingest_boots([BootRecord(richer)]) == Stored(updated=1)
    (stored,) = store.chain("web-1")
    # The report with more evidence decides; evidence is united.
    assert (stored.release, stored.previous_release, stored.machine_id) == ("7.1.3", "7.1.0", "m-1")
    assert stored.evidence == (KHO, CMDLINE, PSTORE)
    assert len(rows(store, boots)) == 1


def test_poorer_report_only_fills_what_is_missing(store: Store) -> None:
    store.ingest_boots([BootRecord(kexec_boot("b-0004", KHO, CMDLINE, previous_boot_id=None))])
    poorer = kexec_boot(
        "b-0004", LEDGER, release="6.0", kexec_count=9, previous_boot_id="prev-0003", machine_id="m"
    )
    assert store.ingest_boots([BootRecord(poorer)]) == Stored(updated=1)
    (stored,) = store.chain("web-1")
    assert (stored.release, stored.kexec_count) == ("7.1.2", 3)
    assert (stored.previous_boot_id, stored.machine_id) == ("prev-0003", "m")
    assert stored.evidence == (KHO, CMDLINE, LEDGER)


def test_poorer_report_with_nothing_new_is_unchanged(store: Store) -> None:
    store.ingest_boots([BootRecord(kexec_boot("b-0004", KHO, CMDLINE))])
    poorer = BootRecord(kexec_boot("b-0004", KHO, release="6.0"))
    assert store.ingest_boots([poorer]) == Stored(unchanged=1)
    assert store.chain("web-1")[0].release == "7.1.2"


def test_disagreements_are_united(store: Store) -> None:
    first = kexec_boot("b-0004", KHO, disagreements=["a"])
    second = kexec_boot("b-0004", KHO, disagreements=["b", "a"])
    store.ingest_boots([BootRecord(first)])
    assert store.ingest_boots([BootRecord(second)]) == Stored(updated=1)
    assert store.chain("web-1")[0].disagreements == ("a", "b")


def test_uptime_is_updated_and_kept(store: Store) -> None:
    boot = kexec_boot("b-0004", KHO)
    store.ingest_boots([BootRecord(boot, started_at=1.7e9, hours=1.0)])
    assert store.ingest_boots([BootRecord(boot, hours=5.0)]) == Stored(updated=1)
    assert store.ingest_boots([BootRecord(boot)]) == Stored(unchanged=1)
    assert store.ingest_boots([BootRecord(boot, hours=5.0)]) == Stored(unchanged=1)
    (row,) = rows(store, boots)
    assert (row["started_at"], row["hours"]) == (1.7e9, 5.0)


EVIDENCE_POOL = (KHO, CMDLINE, LEDGER, PSTORE, Evidence("kdump", False, detail="crash kernel"))


@st.composite
def reports(draw: st.DrawFn) -> list[Boot]:
    """Reports of one boot, as different sources would send them."""
    out = []
    for _ in range(draw(st.integers(1, 5))):
        evidence = draw(st.lists(st.sampled_from(EVIDENCE_POOL), unique=True, max_size=4))
        out.append(
            Boot(
                "web-1",
                "b-0004",
                draw(st.sampled_from(["7.1.2", "7.1.3"])),
                draw(st.sampled_from(["kexec", "kdump"])),
                draw(st.sampled_from([None, "7.1.0"])),
                draw(st.integers(0, 4)),
                draw(st.sampled_from([None, "prev-0003"])),
                draw(st.sampled_from([None, "m-1"])),
                tuple(evidence),
                tuple(draw(st.lists(st.sampled_from(["x", "y"]), unique=True))),
            )
        )
    return out


@settings(
    max_examples=20,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(sent=reports())
def test_any_report_sent_again_changes_nothing(store: Store, sent: list[Boot]) -> None:
    # One store for every example: each example uses a boot id of its own.
    boot_id = str(uuid.uuid4())
    sent = [Boot.from_dict(b.as_dict() | {"boot_id": boot_id}) for b in sent]
    for boot in sent:
        store.ingest_boots([BootRecord(boot)])
    (stored,) = [b for b in store.chain("web-1") if b.boot_id == boot_id]
    assert set(stored.evidence) == {e for b in sent for e in b.evidence}
    assert set(stored.disagreements) == {d for b in sent for d in b.disagreements}
    for field in ("previous_release", "previous_boot_id", "machine_id"):
        if any(getattr(b, field) for b in sent):
            assert getattr(stored, field) is not None
    assert store.ingest_boots([BootRecord(b) for b in sent]) == Stored(unchanged=len(sent))


def stored_boots(store: Store, host: str) -> dict[str, dict[str, object]]:
    """The host's boots rows by boot id, without what says where and when they were stored."""
    query = sa.select(boots).join(hosts, hosts.c.id == boots.c.host_id).where(hosts.c.name == host)
    with store.engine.connect() as connection:
        found = connection.execute(query).mappings()
        return {
            r["boot_id"]: {k: v for k, v in r.items() if k not in ("id", "host_id", "received_at")}
            for r in found
        }


@settings(
    max_examples=20,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    sent=reports(),
    times=st.lists(
        st.tuples(st.sampled_from([None, 1.7e9, 1.8e9]), st.sampled_from([None, 1.0, 5.0])),
        min_size=5,
        max_size=5,
    ),
)
def test_corrections_in_one_batch_store_what_they_store_one_by_one(
    store: Store, sent: list[Boot], times: list[tuple[float | None, float | None]]
) -> None:
    # Reports of two boots, the first of each stored before: one batch makes what one
    # batch per report makes, whichever columns each report changes (one statement per
    # set of columns changed). Each example has hosts of its own.
    one_by_one, batched = (f"{uuid.uuid4().hex[:8]}-{n}" for n in ("single", "batch"))

    def records(host: str) -> list[BootRecord]:
        return [
            BootRecord(Boot.from_dict(b.as_dict() | {"host": host, "boot_id": f"b-{i % 2}"}), *t)
            for i, (b, t) in enumerate(zip(sent, times, strict=False))
        ]

    for host in (one_by_one, batched):
        store.ingest_boots(records(host)[:2])
    for record in records(one_by_one):
        store.ingest_boots([record])
    store.ingest_boots(records(batched))
    assert stored_boots(store, batched) == stored_boots(store, one_by_one)


def test_same_crash_sent_twice_is_stored_once(store: Store) -> None:
    record = CrashRecord("web-1", "b-0004", panic(), "pstore:panic", "7.1.2")
    assert store.ingest_crashes([record]) == Stored(inserted=1)
    assert store.ingest_crashes([record, record]) == Stored(unchanged=2)
    (row,) = rows(store, crashes)
    assert row["fingerprint"] == fingerprint(record.crash)
    assert (row["source"], row["release"], row["panicked"]) == ("pstore:panic", "7.1.2", True)


def test_same_crash_twice_in_one_batch_is_stored_once(store: Store) -> None:
    record = CrashRecord("web-1", "b-0004", panic())
    assert store.ingest_crashes([record, record]) == Stored(inserted=1, unchanged=1)
    assert len(rows(store, crashes)) == 1


def test_crash_dedup_is_by_fingerprint_not_by_metadata(store: Store) -> None:
    store.ingest_crashes([CrashRecord("web-1", "b-0004", panic(), "console")])
    relabelled = CrashRecord("web-1", "b-0004", panic(), "pstore:panic", "7.1.2")
    assert store.ingest_crashes([relabelled]) == Stored(unchanged=1)
    other_report = CrashRecord("web-1", "b-0004", panic(report="another trace"))
    assert store.ingest_crashes([other_report]) == Stored(inserted=1)
    assert len(rows(store, crashes)) == 2


def test_same_crash_in_another_boot_or_host_is_another_crash(store: Store) -> None:
    batch = [
        CrashRecord("web-1", "b-0004", panic()),
        CrashRecord("web-1", "b-0005", panic()),
        CrashRecord("web-2", "b-0004", panic()),
    ]
    assert store.ingest_crashes(batch) == Stored(inserted=3)
    assert store.ingest_crashes(batch) == Stored(unchanged=3)


def test_bulk_load_stores_hosts_with_their_class_boots_and_crashes_in_batches(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kexec_lineage.fleet.store._LOAD_BATCH", 2)  # batches end midway
    loaded = [HostRecord("web-1", 10.0, 20.0), HostRecord("db-1", 5, 6)]
    chain = [kexec_boot(f"b-000{n}", KHO, kexec_count=n) for n in range(1, 6)]
    crashed = [CrashRecord("web-1", b.boot_id, panic(report=b.boot_id)) for b in chain[1:4]]
    # In any order: a crash may come before its boot.
    records: list[BootRecord | CrashRecord] = [
        crashed[0],
        *(BootRecord(b, 12.0 + n, 1.5, {"label.rack": str(n % 2)}) for n, b in enumerate(chain)),
    ]
    store.load(loaded, [*records, *crashed[1:]], now=30.0)
    assert [(r["name"], r["first_seen"], r["last_seen"]) for r in rows(store, hosts)] == [
        ("web-1", 10.0, 20.0),
        ("db-1", 5.0, 6.0),
    ]
    assert sorted(fact_set_table(store).values(), key=str) == [
        {"label.rack": "0"},
        {"label.rack": "1"},
    ]
    assert list(store.chain("web-1")) == chain
    assert {(r["started_at"], r["hours"], r["received_at"]) for r in rows(store, boots)} == {
        (12.0 + n, 1.5, 30.0) for n in range(5)
    }
    assert sorted((r["boot_id"], r["fingerprint"]) for r in rows(store, crashes)) == [
        (c.boot_id, c.fingerprint) for c in crashed
    ]


def test_bulk_load_refuses_a_stored_host_and_a_record_of_a_host_not_loaded(store: Store) -> None:
    store.ingest_boots([BootRecord(kexec_boot())])
    with pytest.raises(InputError) as refused:
        store.load([HostRecord("web-1", 0, 0)], [])
    assert str(refused.value) == "the database holds host web-1 already: simulate into a new one"
    with pytest.raises(InputError) as stray:
        store.load([HostRecord("web-2", 0, 0)], [BootRecord(kexec_boot(host="web-3"))])
    assert str(stray.value) == "a record of host web-3, which is not among the hosts loaded"
    assert [r["boot_id"] for r in rows(store, boots)] == ["b-0004"]


def test_refused_boot_batch_leaves_nothing_behind(store: Store) -> None:
    store.ingest_boots([BootRecord(kexec_boot("b-0001", PSTORE))])
    before = rows(store, boots), rows(store, hosts)
    # release is NOT NULL: the database refuses the last record of the batch.
    refused = Boot.from_dict(kexec_boot("b-0003").as_dict() | {"host": "web-9", "release": None})
    batch = [
        BootRecord(kexec_boot("b-0001", KHO, CMDLINE)),  # an update
        BootRecord(kexec_boot("b-0002")),  # an insert
        BootRecord(Boot("web-8", "b-0001", "7.0", "cold")),  # a new host
        BootRecord(refused),
    ]
    with pytest.raises(StoreError, match=r"^storing boots: "):
        store.ingest_boots(batch)
    assert (rows(store, boots), rows(store, hosts)) == before


def test_refused_crash_batch_leaves_nothing_behind(store: Store) -> None:
    refused = Crash(None, report="no title")  # type: ignore[arg-type]  # title is NOT NULL
    batch = [
        CrashRecord("web-1", "b-0004", panic()),
        CrashRecord("web-7", "b-0001", panic()),
        CrashRecord("web-1", "b-0004", refused),
    ]
    with pytest.raises(StoreError, match=r"^storing crashes: "):
        store.ingest_crashes(batch)
    assert rows(store, crashes) == []
    assert rows(store, hosts) == []


def test_batch_refused_by_postgresql_midway_leaves_nothing_behind(
    postgres_server: PostgresServer,
) -> None:
    # A value PostgreSQL refuses (longer than its varchar(64)) in the second record.
    store = open_store(postgres_server.create_database())
    try:
        batch = [
            BootRecord(kexec_boot("b-0001")),
            BootRecord(kexec_boot("b-0002", release="x" * 65)),
        ]
        with pytest.raises(StoreError, match="too long"):
            store.ingest_boots(batch)
        assert rows(store, boots) == []
        assert rows(store, hosts) == []
    finally:
        store.dispose()


def test_chain_is_in_boot_order(store: Store) -> None:
    def at(boot_id: str, started_at: float | None) -> BootRecord:
        return BootRecord(kexec_boot(boot_id), started_at)

    store.ingest_boots([at("late", 300.0), at("unknown-1", None), at("early", 100.0)])
    store.ingest_boots([at("unknown-2", None), at("middle", 200.0)])
    store.ingest_boots([BootRecord(Boot("web-2", "elsewhere", "7.1", "cold"), 150.0)])
    order = [b.boot_id for b in store.chain("web-1")]
    # By start time; boots without one last, in arrival order.
    assert order == ["early", "middle", "late", "unknown-1", "unknown-2"]


def test_chain_of_an_unknown_host_is_empty(store: Store) -> None:
    store.ingest_boots([BootRecord(kexec_boot())])
    assert list(store.chain("web-404")) == []


def test_transitions_count_boots_and_crashes(store: Store) -> None:
    store.ingest_boots(
        [
            BootRecord(Boot("a", "a0", "7.1.0", "cold")),
            BootRecord(Boot("a", "a1", "7.1.2", "kexec", "7.1.0", 1)),
            BootRecord(Boot("b", "b1", "7.1.2", "kexec", "7.1.0", 4)),
            BootRecord(Boot("b", "b2", "7.1.3", "kexec", "7.1.2", 5)),
        ]
    )
    store.ingest_crashes(
        [
            CrashRecord("a", "a1", panic("BUG: one")),
            CrashRecord("a", "a1", panic("BUG: two")),
            CrashRecord("b", "b1", panic("BUG: one")),
            CrashRecord("b", "b2", panic("BUG: three")),
            CrashRecord("c", "unknown-boot", panic()),  # no boot stored: no transition
        ]
    )
    figures = {(t.previous_release, t.release): (t.boots, t.crashes) for t in transitions(store)}
    assert figures == {
        (None, "7.1.0"): (1, 0),
        ("7.1.0", "7.1.2"): (2, 3),
        ("7.1.2", "7.1.3"): (1, 1),
    }
    # One release's transitions, as the dashboard's transition page asks for them.
    assert transitions(store, "7.1.2") == [t for t in transitions(store) if t.release == "7.1.2"]
    assert transitions(store, "7.9.9") == []


def test_transitions_of_an_empty_store(store: Store) -> None:
    assert transitions(store) == []


def test_transitions_order_is_the_same_on_both_databases(
    store: Store,
) -> None:
    store.ingest_boots(
        [
            BootRecord(Boot("a", "a1", "7.1.2", "kexec", "7.1.0", 1)),
            BootRecord(Boot("a", "a0", "7.1.2", "cold")),
            BootRecord(Boot("a", "a2", "7.1.2", "kexec", "6.9", 1)),
        ]
    )
    assert [t.previous_release for t in transitions(store)] == [None, "6.9", "7.1.0"]


def test_tokens_are_stored_as_digests_only(store: Store) -> None:
    host_token = store.create_token("host", "web-1")
    read_token = store.create_token("read")
    assert host_token.startswith("kl_")
    assert host_token != read_token
    stored = rows(store, tokens)
    text = repr(stored)
    assert host_token not in text
    assert read_token not in text
    assert host_token.removeprefix("kl_") not in text
    assert {r["digest"] for r in stored} == {
        hashlib.sha256(t.encode()).hexdigest() for t in (host_token, read_token)
    }
    assert store.check_token(host_token) == TokenInfo("host", "web-1")
    assert store.check_token(read_token) == TokenInfo("read", None)


def test_unknown_token_is_none(store: Store) -> None:
    token = store.create_token("read")
    assert store.check_token(token + "x") is None
    assert store.check_token("") is None


@pytest.mark.parametrize(("kind", "host"), [("host", None), ("read", "web-1"), ("admin", None)])
def test_token_kind_and_host_must_agree(store: Store, kind: str, host: str | None) -> None:
    with pytest.raises(StoreError, match="either for one host"):
        store.create_token(kind, host)
    assert rows(store, tokens) == []


def test_closed_postgresql_port_is_a_store_error() -> None:
    url = f"postgresql+psycopg://kl:secret@127.0.0.1:{free_port()}/fleet"
    with pytest.raises(StoreError, match=r"^cannot open database 127\.0\.0\.1") as caught:
        open_store(url)
    assert "secret" not in str(caught.value)
    assert isinstance(caught.value.__cause__, sa.exc.OperationalError)


def test_missing_postgresql_database_is_a_store_error(postgres_server: PostgresServer) -> None:
    with pytest.raises(StoreError, match='database "no_such_db" does not exist'):
        open_store(postgres_server.url("no_such_db"))


def test_sqlite_file_in_a_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unable to open database file"):
        open_store(str(tmp_path / "missing" / "fleet.db"))


def test_unknown_database_scheme_is_a_store_error() -> None:
    with pytest.raises(StoreError, match=r"^cannot open database"):
        open_store("nosuchdb://host/db")


def test_database_gone_after_opening_is_a_store_error(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    sqlite_dir = tmp_path / "db"
    sqlite_dir.mkdir()
    pg_url = postgres_server.create_database()
    stores = [open_store(str(sqlite_dir / "fleet.db")), open_store(pg_url)]
    for store in stores:
        store.ping()
        store.dispose()
    shutil.rmtree(sqlite_dir)
    postgres_server.drop_database(pg_url)
    for store in stores:
        with pytest.raises(StoreError, match=r"^reaching the database: "):
            store.ping()
        with pytest.raises(StoreError, match=r"^storing boots: "):
            store.ingest_boots([BootRecord(kexec_boot())])
        store.dispose()


def wait_for_a_blocked_writer(store: Store) -> None:
    """Until another session waits for a lock: PostgreSQL shows it in ``pg_locks``;
    SQLite shows nothing, so give the writer ample time to reach its busy wait."""
    if store.engine.dialect.name != "postgresql":
        time.sleep(1.0)
        return
    deadline = time.monotonic() + 30
    with store.engine.connect() as connection:
        query = sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")
        while not connection.execute(query).scalar_one():
            connection.rollback()  # a fresh snapshot for the next look
            assert time.monotonic() < deadline, "the racing batch never waited for the lock"
            time.sleep(0.02)


def test_first_records_of_a_new_host_racing_another_batch_are_stored(store: Store) -> None:
    with store.engine.connect() as other:
        # Another request's transaction has created the host and not committed yet.
        transaction = other.begin()
        other.execute(hosts.insert(), [{"name": "web-1", "first_seen": 1.0, "last_seen": 1.0}])
        results: list[Stored | BaseException] = []

        def ingest() -> None:
            try:
                results.append(store.ingest_boots([BootRecord(kexec_boot())]))
            except BaseException as exc:  # handed to the test thread
                results.append(exc)

        racer = threading.Thread(target=ingest)
        racer.start()
        wait_for_a_blocked_writer(store)  # the racer has looked for the host, and waits
        transaction.commit()
        racer.join(timeout=60)
    (result,) = results
    if isinstance(result, BaseException):
        raise result
    assert result == Stored(inserted=1)


def test_kernel_text_that_is_not_utf8_is_stored_or_refused_as_store_error(store: Store) -> None:
    release = from_kernel(b"7.1.2-\xff")
    try:
        counts = store.ingest_boots([BootRecord(Boot("web-1", "b-0001", release, "cold"))])
    except StoreError:
        return
    assert counts == Stored(inserted=1)


@pytest.mark.parametrize(
    "text",
    [from_kernel(b"-\xff\xfe"), "-nul\x00", "-\u00e9\u4e2d"],
    ids=["not-utf8", "nul", "non-ascii"],
)
def test_kernel_text_in_every_field_sent_again_changes_nothing(store: Store, text: str) -> None:
    # What a log ingest reads off a console: bytes that were not UTF-8 (kept as
    # surrogates) or NULs in any of a boot's texts. The store keeps them escaped; the
    # same boot and crash read again, from the same log, are the same records.
    evidence = Evidence("pstore", True, "7.1.0" + text, 3, "prev" + text, "Linux" + text)
    boot = Boot(
        "web-1",
        "b" + text,
        "7.1.2" + text,
        "kexec",
        "7.1.0" + text,
        3,
        "prev" + text,
        "m" + text,
        (evidence,),
        ("kho said" + text,),
    )
    record = BootRecord(boot, 1.7e9, 2.0, {"dmi.vendor": "acme" + text})
    crash = CrashRecord("web-1", boot.boot_id, panic("BUG: bad" + text, "trace" + text))
    assert store.ingest_boots([record]) == Stored(inserted=1)
    assert store.ingest_crashes([crash]) == Stored(inserted=1)
    stored = stored_boots(store, "web-1")
    kept = {table.name: rows(store, table) for table in (count_cells, spread_cells)}
    assert store.ingest_boots([record]) == Stored(unchanged=1)
    assert store.ingest_boots([record, record]) == Stored(unchanged=2)
    assert store.ingest_crashes([crash]) == Stored(unchanged=1)
    assert stored_boots(store, "web-1") == stored
    assert {table.name: rows(store, table) for table in (count_cells, spread_cells)} == kept
    (row,) = rows(store, count_cells)
    assert (row["boots"], row["crashed_boots"]) == (1, 1)  # the crash is its boot's
    with store.transaction("recounting") as connection:
        recount(connection)
    assert {table.name: rows(store, table) for table in (count_cells, spread_cells)} == kept


kernel_texts = st.one_of(
    st.text(),
    st.binary().map(from_kernel),  # bytes that were not UTF-8 come as surrogates
    st.text(alphabet=st.sampled_from("a\\u0\x00\x7f\u00e9")),  # escapes, NULs, \\u
)


@settings(max_examples=300, database=None, deadline=None)
@given(
    st.lists(kernel_texts, min_size=3, max_size=5),
    st.lists(st.tuples(kernel_texts, kernel_texts, st.integers(0, 9)), max_size=3),
)
def test_a_boot_row_holds_every_text_cleaned(
    texts: list[str], evidence: list[tuple[str, str, int]]
) -> None:
    # The texts are made storable once, for the whole boot (ingest's records are made so
    # before they are compared with the stored ones): the row is what cleaning each
    # field on its own stores, whatever the texts.
    boot = Boot(
        "web-1",
        texts[0],
        texts[1],
        "kexec",
        texts[2],
        1,
        evidence=tuple(
            Evidence(source, detail=detail, kexec_count=n) for source, detail, n in evidence
        ),
        disagreements=tuple(texts[3:]),
    )
    row = boot_row(BootRecord(boot), 1, 0.0)
    assert (row["boot_id"], row["release"], row["previous_release"]) == tuple(
        _clean(t) for t in texts[:3]
    )
    assert row["evidence"] == _sorted_json(_clean([e.as_dict() for e in boot.evidence]))
    assert row["disagreements"] == json.dumps(_clean(texts[3:]))
