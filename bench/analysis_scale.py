"""Analysis of 10M boots in SQLite, against one ``GROUP BY release`` scan of them.

The database is generated once (random fleet-like rows: 60 releases, each
kexec'd into from its recent predecessors, 12 host classes, about 1% of boots
with a crash) and kept under build/bench/. ``BENCH_BOOTS`` sets the size.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from kexec_lineage.fleet.analysis import analyze
from kexec_lineage.fleet.count_queries import count_rows, title_rows
from kexec_lineage.fleet.schema import boots, crashes, hosts
from kexec_lineage.fleet.store import Store, open_store

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
    with store.transaction("bench hosts") as connection:
        connection.execute(
            hosts.insert(),
            [
                {
                    "name": f"h{i}",
                    "platform": f"p{i % 4}",
                    "region": f"r{i % 3}",
                    "first_seen": 0,
                    "last_seen": 0,
                }
                for i in range(HOSTS)
            ],
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
    return store


def main() -> int:
    path = REPO / "build/bench" / f"fleet-{BOOTS}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    store = build(path)
    with store.transaction("baseline") as connection:
        start = time.perf_counter()
        connection.execute(
            sa.select(boots.c.release, sa.func.count()).group_by(boots.c.release)
        ).all()
        scan = time.perf_counter() - start
    start = time.perf_counter()
    counts, titles = count_rows(store), title_rows(store)
    counted = time.perf_counter() - start
    start = time.perf_counter()
    result = analyze(counts, titles)
    tested = time.perf_counter() - start
    print(
        f"analysis of {BOOTS:,} boots in SQLite ({len(counts):,} count cells, {result.tests} tests)"
    )
    print(f"{'':36}{'seconds':>9}{'x scan':>9}")
    for name, seconds in (
        ("GROUP BY release scan (baseline)", scan),
        ("count tables in SQL", counted),
        ("statistics in Python", tested),
        ("analysis, total", counted + tested),
    ):
        print(f"{name:36}{seconds:9.2f}{seconds / scan:9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
