"""Analysis of 10M boots in SQLite, against one ``GROUP BY release`` scan of them.

The database is generated once (random fleet-like rows: 60 releases, each
kexec'd into from its recent predecessors, 12 host classes, about 1% of boots
with a crash) and kept under build/bench/. ``BENCH_BOOTS`` sets the size.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from kexec_lineage.fleet.analysis import analyze
from kexec_lineage.fleet.count_queries import count_tables
from kexec_lineage.fleet.count_upkeep import recount
from kexec_lineage.fleet.schema import boots, crashes, fact_sets, hosts
from kexec_lineage.fleet.store import Store, open_store
from kexec_lineage.model.wire import facts_digest

REPO = Path(__file__).resolve().parent.parent
BOOTS = int(os.environ.get("BENCH_BOOTS", "10000000"))
HOSTS = 200_000
CHUNK = 200_000


def build(path: Path) -> Store:
    fresh = not path.exists()
    store = open_store(str(path))
    if not fresh:
        return store
    tmp_rng = np.random.default_rng(7)
    releases = [f"7.{m}.{p}" for m in range(6) for p in range(10)]
    # Host i's class is i % 12: a machine (of 4) and a region (of 3), fact set i % 12 + 1.
    classes = [{"dmi.system": f"p{c % 4}", "label.region": f"r{c % 3}"} for c in range(12)]
    with store.transaction("bench hosts") as connection:
        connection.execute(
            fact_sets.insert(),
            [
                {"id": c + 1, "digest": facts_digest(f), "facts": json.dumps(f, sort_keys=True)}
                for c, f in enumerate(classes)
            ],
        )
        connection.execute(
            hosts.insert(),
            [{"name": f"h{i}", "first_seen": 0, "last_seen": 0} for i in range(HOSTS)],
        )
    done = 0
    while done < BOOTS:
        n = min(CHUNK, BOOTS - done)
        rel = tmp_rng.integers(5, len(releases), n)
        back = tmp_rng.integers(1, 6, n)
        how = np.where(tmp_rng.random(n) < 0.7, "kexec", "cold")
        depth = np.where(how == "cold", 0, tmp_rng.integers(1, 12, n))
        host = tmp_rng.integers(1, HOSTS + 1, n)
        crashed = tmp_rng.random(n) < 0.01
        rows = [
            {
                "host_id": int(host[i]),
                "boot_id": f"b{done + i}",
                "release": releases[rel[i]],
                "how": how[i],
                "kexec_count": int(depth[i]),
                "previous_release": None if how[i] == "cold" else releases[rel[i] - back[i]],
                "hours": 72.0,
                "fact_set_id": int(host[i] - 1) % 12 + 1,
                "evidence": "[]",
                "disagreements": "[]",
                "received_at": 0,
            }
            for i in range(n)
        ]
        crash_rows = [
            {
                "host_id": int(host[i]),
                "boot_id": f"b{done + i}",
                "fingerprint": f"f{done + i}",
                "title": f"WARNING in f{(done + i) % 40}",
                "alt_titles": "[]",
                "type": "WARNING",
                "frame": "",
                "corrupted": False,
                "panicked": False,
                "source": "bench",
                "report": "",
                "received_at": 0,
            }
            for i in np.flatnonzero(crashed)
        ]
        with store.transaction("bench boots") as connection:
            connection.execute(boots.insert(), rows)
            if crash_rows:
                connection.execute(crashes.insert(), crash_rows)
        done += n
        print(f"\rgenerating: {done:,}/{BOOTS:,} boots", end="", flush=True)
    print()
    start = time.perf_counter()
    with store.transaction("bench recount") as connection:
        recount(connection)
    print(f"count tables recounted from the raw rows in {time.perf_counter() - start:.1f} s")
    return store


def main() -> int:
    path = REPO / "build/bench" / f"fleet-{BOOTS}-facts.db"  # made with the schema of 0003
    path.parent.mkdir(parents=True, exist_ok=True)
    store = build(path)
    with store.transaction("baseline") as connection:
        start = time.perf_counter()
        connection.execute(
            sa.select(boots.c.release, sa.func.count()).group_by(boots.c.release)
        ).all()
        scan = time.perf_counter() - start
    start = time.perf_counter()
    tables = count_tables(store)
    counts = tables.rows
    counted = time.perf_counter() - start
    start = time.perf_counter()
    result = analyze(counts, tables.titles, tables.spread, fact_sets=tables.fact_sets)
    tested = time.perf_counter() - start
    print(
        f"analysis of {BOOTS:,} boots in SQLite ({len(counts):,} count cells, {result.tests} tests)"
    )
    print(f"{'':36}{'seconds':>9}{'x scan':>9}")
    for name, seconds in (
        ("GROUP BY release scan (baseline)", scan),
        ("count tables read", counted),
        ("statistics in Python", tested),
        ("analysis, total", counted + tested),
    ):
        print(f"{name:36}{seconds:9.2f}{seconds / scan:9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
