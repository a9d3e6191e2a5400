"""Collector ingest throughput: HTTP batches against a direct bulk insert.

The same boot records go into fresh SQLite databases three ways: a plain bulk
``INSERT`` (executemany, the baseline), the store's idempotent ingest, and
``POST /v1/boots`` to a real collector process. Ratios are to the baseline.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
from pathlib import Path

import sqlalchemy as sa
from tests.collector import Collector, kexec_lineage

from kexec_lineage.fleet.schema import boots, hosts
from kexec_lineage.fleet.store import boot_row, open_store
from kexec_lineage.model.boot import Boot, Evidence
from kexec_lineage.model.wire import SHIP_BATCH, BootRecord

RECORDS = 20_000  # of one host, so that one host token may send them all
BATCH = SHIP_BATCH  # the batches a host's `ship` sends; the bulk INSERT takes the same
RUNS = 5


def make_boots() -> list[Boot]:
    return [
        Boot(
            "bench",
            f"{n:08x}-0000-4000-8000-000000000000",
            "7.1.2",
            "kexec",
            "7.1.0",
            1 + n % 5,
            f"{n - 1:08x}-0000-4000-8000-000000000000",
            evidence=(Evidence("cmdline", True, "7.1.0", 1 + n % 5),),
        )
        for n in range(RECORDS)
    ]


def bulk_insert(db: Path, records: list[Boot]) -> float:
    store = open_store(str(db))
    start = time.perf_counter()
    with store.transaction("bench") as connection:
        connection.execute(hosts.insert(), [{"name": "bench", "first_seen": 0, "last_seen": 0}])
        ids = dict(connection.execute(sa.select(hosts.c.name, hosts.c.id)).all())
        for i in range(0, len(records), BATCH):
            connection.execute(
                boots.insert(),
                [boot_row(BootRecord(b), ids[b.host], 0) for b in records[i : i + BATCH]],
            )
    return time.perf_counter() - start


def store_ingest(db: Path, records: list[Boot]) -> float:
    store = open_store(str(db))
    start = time.perf_counter()
    for i in range(0, len(records), BATCH):
        store.ingest_boots([BootRecord(b) for b in records[i : i + BATCH]])
    return time.perf_counter() - start


def http_ingest(db: Path, records: list[Boot]) -> float:
    # One host sends them all: lift the collector's daily bound for this host.
    collector = Collector(str(db), options=("--max-boots-per-host-day", str(RECORDS)))
    bodies = [
        json.dumps({"boots": [b.as_dict() for b in records[i : i + BATCH]]})
        for i in range(0, len(records), BATCH)
    ]
    token = kexec_lineage("token", "create", "--db", db, "--host", "bench").split()[-1]
    collector.start()
    try:
        start = time.perf_counter()
        for body in bodies:
            request = urllib.request.Request(
                collector.url + "/v1/boots",
                data=body.encode(),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                },
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
        return time.perf_counter() - start
    finally:
        collector.stop()


WAYS = (bulk_insert, store_ingest, http_ingest)


def main() -> int:
    records = make_boots()
    with tempfile.TemporaryDirectory() as tmp:
        # Each way the best of RUNS, into a new database each time, in turns.
        runs = [
            [way(Path(tmp) / f"{way.__name__}-{run}.db", records) for way in WAYS]
            for run in range(RUNS)
        ]
    base, ingest, http = (min(times) for times in zip(*runs, strict=True))
    print(f"collector ingest, {RECORDS} boots in batches of {BATCH}, SQLite, best of {RUNS}")
    print(f"{'':32}{'records/s':>10}{'x bulk':>9}")
    for name, seconds in (
        ("bulk INSERT (baseline)", base),
        ("Store.ingest_boots", ingest),
        ("POST /v1/boots (HTTP)", http),
    ):
        print(f"{name:32}{RECORDS / seconds:10.0f}{base / seconds:9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
