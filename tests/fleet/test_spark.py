"""The Spark job against the SQL it replaces: a fleet in a real SQLite store, exported
to Parquet, aggregated by Spark in local mode, must give the same count tables and the
same analysis as the SQLite path. Two fleets: a hand-built one that exercises every rule
of the count tables, read by several Spark tasks, and a small simulated one with
injected faults for the analysis.

Spark starts once per session (several seconds on a 2-core machine); the start and the
job times are printed."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from pyspark.sql import SparkSession

from kexec_lineage.errors import InputError
from kexec_lineage.fleet.analysis import analyze
from kexec_lineage.fleet.count_queries import count_rows, fact_set_table, host_spread, title_rows
from kexec_lineage.fleet.count_table import DEPTH_BUCKETS, NO_DAY, CountRow, TitleRow
from kexec_lineage.fleet.schema import boots, crashes, fact_sets
from kexec_lineage.fleet.spark import (
    EXPORTED,
    LEFT_OUT,
    arrow_schema,
    export_parquet,
    local_session,
    spark_count_rows,
    spark_fact_sets,
    spark_host_spread,
    spark_title_rows,
)
from kexec_lineage.fleet.store import Store, open_store
from kexec_lineage.fleet.weighing_sql import weighed_tables
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.crash import Crash
from kexec_lineage.model.transition import COLD, UNKNOWN
from kexec_lineage.model.wire import BootRecord, CrashRecord
from kexec_lineage.sim.database import write_db
from kexec_lineage.sim.fleet import simulate
from tests.conftest import REPO, tool
from tests.fleet.conftest import PostgresServer
from tests.fleet.results import differences

RELEASES = ("6.1.0", "6.6.0", "6.12.0", "7.0.0", "7.1.0")
TITLES = (
    "BUG: KASAN: use-after-free in kho_restore",
    "WARNING in iommu_map",
    "kernel panic: sysrq triggered crash",
    "general protection fault in ext4_fill_super",
)
# Each host's facts, before and after a BIOS update halfway (None: sends none).
HOST_FACTS: dict[str, tuple[dict[str, str] | None, dict[str, str] | None]] = {
    "web-1": ({"dmi.system": "x86", "label.region": "eu"}, {"dmi.system": "x86"}),
    "web-2": ({"dmi.system": "arm"}, {"dmi.system": "arm"}),
    "web-3": (None, None),
    "web-4": (None, {"label.region": "us"}),
    "web-5": ({"dmi.system": "x86", "label.region": "us"},) * 2,
    "web-6": ({"label.region": "eu"}, None),
}


def _say(config: pytest.Config, line: str) -> None:
    """A line on the terminal even while pytest captures output."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)


@pytest.fixture(scope="session")
def spark(pytestconfig: pytest.Config) -> Iterator[SparkSession]:
    """One local-mode Spark session for the whole test session."""
    tool("java")  # a missing JVM fails here, with the package that provides it
    start = time.perf_counter()
    session = local_session()
    _say(pytestconfig, f"spark: session started in {time.perf_counter() - start:.1f} s")
    try:
        yield session
    finally:
        session.stop()


def _crash(title: str, report: str, uptime: float | None = None) -> Crash:
    return Crash(title, (), "", "", panicked=True, report=report, uptime=uptime)


def build_fleet(store: Store, seed: int = 7) -> tuple[int, int]:
    """A fleet that exercises every rule of the count tables; (boots, crashes) stored.

    Cold boots (some naming a previous release, which must not matter), kexec boots with
    and without a previous release, kdump boots, kexec counts in and on the edge of every
    depth bucket, boots of several days and of none known, boots with and without facts
    (a host's changing halfway), boots without hours, several crashes per boot (the
    same title twice among them), crashes early, late, on the edge of the early window
    and of no known time, crashes whose boot was never stored, and a host with crashes
    and no boots. Hours are multiples of 1/4, so that their sums are exact in any order
    (see the note on hours in the report).
    """
    rng = random.Random(seed)
    boot_records: list[BootRecord] = []
    crash_records: list[CrashRecord] = []
    for host, facts in HOST_FACTS.items():
        release, count, n = rng.choice(RELEASES), 0, 0
        for n in range(rng.randint(25, 45)):
            roll = rng.random()
            if n == 0 or roll < 0.15:
                how, previous, count = "cold", (release if roll < 0.05 else None), 0
            elif roll < 0.22:
                how, previous, count = "kdump", release, count + 1
            else:
                how, previous, count = "kexec", release, count + 1
                if roll > 0.93:
                    previous = None  # nobody recorded what it came from
            if n in (20, 21):  # the edges of the last buckets
                how, previous, count = "kexec", release, (17, 13)[n - 20]
            elif 7 <= n < 12 and host == "web-1":  # and of the counts below them
                how, previous, count = "kexec", release, n + 1
            release = rng.choice(RELEASES)
            boot_id = f"{host}-b{n:03d}"
            hours = None if rng.random() < 0.2 else rng.randint(0, 4000) / 4
            boot = Boot(host, boot_id, release, how, previous, count)
            now = facts[n >= 20] or {}
            start = None if rng.random() < 0.1 else 1.7e9 + n * 3600.0
            boot_records.append(BootRecord(boot, start, hours, now))
            for k in range(rng.choice((0, 0, 0, 1, 1, 2, 3))):
                title = rng.choice(TITLES)
                uptime = rng.choice((None, 12.5, 899.75, 900.0, 900.25, 5000.0))
                crash_records.append(
                    CrashRecord(host, boot_id, _crash(title, f"{boot_id} report {k}", uptime))
                )
        for k in range(2):  # a boot that never reached the store
            crash_records.append(CrashRecord(host, f"{host}-lost", _crash(TITLES[k], f"lost {k}")))
    crash_records.append(CrashRecord("lonely", "b-0001", _crash(TITLES[0], "no boots at all")))
    store.ingest_boots(boot_records)
    store.ingest_crashes(crash_records)
    return len(boot_records), len(crash_records)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path]]:
    """The fleet of :func:`build_fleet` in a SQLite file, and its Parquet export."""
    base = tmp_path_factory.mktemp("spark")
    store = open_store(f"sqlite:///{base / 'fleet.db'}")
    try:
        build_fleet(store)
        export_parquet(store, base / "parquet", batch_rows=50)
        yield store, base / "parquet"
    finally:
        store.dispose()


# Splits of a few KiB: each table is read by several tasks, so that partial
# aggregates are shuffled and merged as they are for a real fleet.
SMALL_SPLITS = {"spark.sql.files.maxPartitionBytes": "4096", "spark.sql.files.openCostInBytes": "0"}


@pytest.fixture(scope="module")
def spark_rows(
    pytestconfig: pytest.Config, spark: SparkSession, fleet: tuple[Store, Path]
) -> tuple[list[CountRow], list[TitleRow]]:
    """Both count tables of the hand-built fleet, from Spark; the job time printed.

    Splits of a few KiB: each table is read by several tasks, so that partial
    aggregates are shuffled and merged as they are for a real fleet."""
    splits = {"spark.sql.files.maxPartitionBytes": "4096", "spark.sql.files.openCostInBytes": "0"}
    for key, value in splits.items():
        spark.conf.set(key, value)
    try:
        start = time.perf_counter()
        rows = spark_count_rows(spark, fleet[1]), spark_title_rows(spark, fleet[1])
    finally:
        for key in splits:
            spark.conf.unset(key)
    _say(pytestconfig, f"spark: hand-built fleet counted in {time.perf_counter() - start:.1f} s")
    return rows


def test_fleet_exercises_every_rule(fleet: tuple[Store, Path]) -> None:
    # Guards the fixture: equality below means little on a fleet without these.
    counts = count_rows(fleet[0])
    assert {r.depth for r in counts} == set(DEPTH_BUCKETS)
    assert NO_DAY in {r.day for r in counts} and len({r.day for r in counts}) >= 3
    assert {r.how for r in counts} == {"cold", "kexec", "kdump"}
    assert {COLD, UNKNOWN} < {r.predecessor for r in counts}
    assert len({r.facts for r in counts}) == 7  # six fact sets, and none
    assert any(r.crashes > r.crashed_boots for r in counts)
    assert 0 < sum(r.early_crashed_boots for r in counts) < sum(r.crashed_boots for r in counts)
    with fleet[0].transaction("reading back") as connection:
        stored = connection.execute(sa.text("SELECT count(*) FROM boots")).scalar_one()
        null_hours = connection.execute(
            sa.text("SELECT count(*) FROM boots WHERE hours IS NULL")
        ).scalar_one()
        cold_with_previous = connection.execute(
            sa.text(
                "SELECT count(*) FROM boots WHERE how = 'cold' AND previous_release IS NOT NULL"
            )
        ).scalar_one()
    assert sum(r.boots for r in counts) == stored
    assert null_hours > 0
    assert cold_with_previous > 0
    titles = title_rows(fleet[0])
    assert len({r.title for r in titles}) == len(TITLES)


def test_count_rows_equal_sqlite(
    fleet: tuple[Store, Path], spark_rows: tuple[list[CountRow], list[TitleRow]]
) -> None:
    counts = spark_rows[0]
    assert counts == count_rows(fleet[0])
    assert all(isinstance(r.hours, float) and isinstance(r.crashes, int) for r in counts)


def test_title_rows_equal_sqlite(
    fleet: tuple[Store, Path], spark_rows: tuple[list[CountRow], list[TitleRow]]
) -> None:
    assert spark_rows[1] == title_rows(fleet[0])


def test_postgresql_export_gives_equal_tables(
    spark: SparkSession, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    # The export streams through a server-side cursor here; the SQL runs on PostgreSQL.
    url = postgres_server.create_database()
    store = open_store(url)
    try:
        build_fleet(store)
        export_parquet(store, tmp_path, batch_rows=64)
        assert spark_count_rows(spark, tmp_path) == count_rows(store)
        assert spark_title_rows(spark, tmp_path) == title_rows(store)
        assert spark_fact_sets(spark, tmp_path) == fact_set_table(store)
    finally:
        store.dispose()
        postgres_server.drop_database(url)


def kexec_lineage(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a new process."""
    return subprocess.run(
        [sys.executable, "-m", "kexec_lineage", *map(str, argv)],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
        timeout=120,
    )


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path]]:
    """A small simulated fleet (600 hosts, 40 days: ~7,000 boots, injected faults the
    analysis finds) in a SQLite file, exported by ``kexec-lineage export``."""
    base = tmp_path_factory.mktemp("simulated")
    db, directory = base / "fleet.db", base / "parquet"
    store = open_store(f"sqlite:///{db}")
    try:
        write_db(simulate(600, 40, seed=1), store)
        with store.transaction("counting") as connection:
            boots_n, crashes_n, sets_n = (
                connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (boots, crashes, fact_sets)
            )
        proc = kexec_lineage("export", "--db", db, "--parquet", directory)
        assert (proc.returncode, proc.stderr) == (0, "")
        assert proc.stdout == (
            f"exported 600 hosts, {sets_n} fact sets, {boots_n} boots, {crashes_n} crashes "
            f"to {directory}\n"
        )
        yield store, directory
    finally:
        store.dispose()


def test_simulated_fleet_gives_equal_tables_and_analysis(
    pytestconfig: pytest.Config, spark: SparkSession, simulated: tuple[Store, Path]
) -> None:
    store, directory = simulated
    start = time.perf_counter()
    counts, titles = spark_count_rows(spark, directory), spark_title_rows(spark, directory)
    _say(pytestconfig, f"spark: simulated fleet counted in {time.perf_counter() - start:.1f} s")
    # Hours are sums of arbitrary floats here: equal because both engines add them in
    # boot order (one Spark task per table at this size).
    sets = spark_fact_sets(spark, directory)
    assert counts == count_rows(store)
    assert titles == title_rows(store)
    assert sets == fact_set_table(store)
    spread = spark_host_spread(spark, directory)
    assert spread == host_spread(store)
    sqlite = analyze(count_rows(store), title_rows(store), spread, fact_sets=sets).as_dict()
    assert sqlite["suspects"], "a fleet without findings would make the comparison idle"
    assert analyze(counts, titles, spread, fact_sets=sets).as_dict() == sqlite
    # The store's own analysis, its rows weighed in SQL, sums in another order.
    stored = weighed_tables(store)
    weighed = analyze(stored.counts, stored.titles, stored.spread, fact_sets=stored.fact_sets)
    assert differences(weighed.as_dict(), sqlite) == []


def test_export_types_and_batches(fleet: tuple[Store, Path]) -> None:
    for table in EXPORTED:
        file = pq.ParquetFile(fleet[1] / f"{table.name}.parquet")
        assert file.schema_arrow == arrow_schema(table)
        assert not {f"{table.name}.{name}" for name in file.schema_arrow.names} & LEFT_OUT
    boots_file = pq.ParquetFile(fleet[1] / "boots.parquet")
    assert boots_file.metadata.num_row_groups == -(-boots_file.metadata.num_rows // 50)


def test_export_again_replaces_whole_files(fleet: tuple[Store, Path], tmp_path: Path) -> None:
    first = export_parquet(fleet[0], tmp_path)
    before = {p.name: p.stat().st_ino for p in tmp_path.iterdir()}
    assert export_parquet(fleet[0], tmp_path) == first
    after = {p.name: p.stat().st_ino for p in tmp_path.iterdir()}
    assert sorted(after) == [
        "boots.parquet",
        "crashes.parquet",
        "fact_sets.parquet",
        "hosts.parquet",
    ]
    assert not set(before.items()) & set(after.items())  # renamed into place, not rewritten
    assert pq.ParquetFile(tmp_path / "boots.parquet").metadata.num_rows == first["boots"]


def test_empty_fleet_gives_empty_tables(spark: SparkSession, tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert export_parquet(store, tmp_path / "parquet") == {
            "hosts": 0,
            "fact_sets": 0,
            "boots": 0,
            "crashes": 0,
        }
    finally:
        store.dispose()
    assert spark_count_rows(spark, tmp_path / "parquet") == []
    assert spark_title_rows(spark, tmp_path / "parquet") == []
    assert spark_fact_sets(spark, tmp_path / "parquet") == {}


def test_missing_table_is_one_error(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"/crashes\.parquet is missing: run `kexec-lineage export"
    ):
        spark_count_rows(spark, tmp_path)


def test_export_to_a_file_is_one_error(fleet: tuple[Store, Path], tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    with pytest.raises(InputError, match="cannot create"):
        export_parquet(fleet[0], tmp_path / "taken" / "parquet")
    proc = kexec_lineage(
        "export", "--db", tmp_path / "fleet.db", "--parquet", tmp_path / "taken" / "parquet"
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        f"kexec-lineage: error: cannot create {tmp_path / 'taken' / 'parquet'}: Not a directory\n"
    )
