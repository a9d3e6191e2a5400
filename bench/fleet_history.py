"""A fleet's history of boots for the scale benchmarks, generated once per machine.

The fleet: ``HOSTS`` hosts in four rollout rings, each booting about once a day;
a release every week, which ring *k* takes *k* weeks late; seven boots in ten are
kexecs, mostly of the release the host ran (a reboot into the same kernel),
once a week from the previous one, now and then from older ones; 12 host
classes; a crash in about 1% of boots, at a uniform time of the boot's uptime.
``BOOTS`` boots span ``BOOTS / HOSTS`` days: 10M boots are 100 days, 30M 300
days of the same fleet, with more releases, transitions and days to count.

The store is built under ``$XDG_CACHE_HOME/kexec-lineage/bench`` (keyed by the
generator's :data:`VERSION` and the size) and renamed into place when complete,
so that a run interrupted half-way leaves nothing that looks finished.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from kexec_lineage.fleet.count_upkeep import recount
from kexec_lineage.fleet.schema import fact_sets, hosts
from kexec_lineage.fleet.store import Store, open_store
from kexec_lineage.model.wire import facts_digest

__all__ = ("HOSTS", "VERSION", "fleet_path", "fleet_store")

#: Raise with any change to what is generated: stores of other versions are not reused.
VERSION = 2
HOSTS = 100_000
_CLASSES = 12
_EPOCH = 1_767_225_600  # 2026-01-01 UTC
_CHUNK = 500_000
_BOOT_COLUMNS = (
    "host_id, boot_id, release, how, previous_release, kexec_count, started_at, hours, "
    "fact_set_id, evidence, disagreements, received_at"
)
_CRASH_COLUMNS = (
    "host_id, boot_id, fingerprint, title, alt_titles, type, frame, corrupted, panicked, "
    "source, report, uptime, received_at"
)


def _release(k: np.ndarray) -> list[str]:
    return [f"7.{m // 10}.{m % 10}" for m in k.tolist()]


def _chunk(
    rng: np.random.Generator, first: int, n: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    boot = np.arange(first, first + n)
    day = boot // HOSTS
    host = rng.integers(0, HOSTS, n)
    week = np.maximum(day // 7 - host % 4, 0)
    kexec = rng.random(n) < 0.7
    # How far back the predecessor is: the same release mostly, the previous one about
    # once a week, older ones now and then.
    back = rng.choice(4, n, p=[0.8, 0.15, 0.04, 0.01])
    previous = np.maximum(week - back, 0)
    depth = np.where(kexec, rng.geometric(0.3, n), 0)
    started = _EPOCH + day * 86400 + rng.uniform(0, 86400, n)
    hours = np.minimum(rng.exponential(24.0, n), 240.0)
    crashed = np.flatnonzero(rng.random(n) < 0.01)
    releases, previous_releases = _release(week), _release(previous)
    boot_ids = [f"b{i}" for i in boot.tolist()]
    boots = list(
        zip(
            (host + 1).tolist(),
            boot_ids,
            releases,
            np.where(kexec, "kexec", "cold").tolist(),
            [p if k else None for p, k in zip(previous_releases, kexec.tolist(), strict=True)],
            depth.tolist(),
            started.tolist(),
            hours.tolist(),
            (host % _CLASSES + 1).tolist(),
            ["[]"] * n,
            ["[]"] * n,
            started.tolist(),
            strict=True,
        )
    )
    uptime = rng.uniform(0, hours[crashed] * 3600)
    crashes = [
        (
            int(host[i] + 1),
            boot_ids[i],
            f"f{first + i}",
            f"WARNING in f{(first + i) % 40}",
            "[]",
            "WARNING",
            "",
            False,
            False,
            "bench",
            "",
            float(up),
            float(started[i]),
        )
        for i, up in zip(crashed.tolist(), uptime.tolist(), strict=True)
    ]
    return boots, crashes


def _generate(path: Path, boots: int) -> None:
    store = open_store(str(path))
    rng = np.random.default_rng(VERSION)
    classes = [{"dmi.system": f"p{c % 4}", "label.region": f"r{c % 3}"} for c in range(_CLASSES)]
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
    done, start = 0, time.perf_counter()
    while done < boots:
        n = min(_CHUNK, boots - done)
        boot_rows, crash_rows = _chunk(rng, done, n)
        with store.transaction("bench boots") as connection:
            # The driver's executemany of tuples: the bulk load a benchmark needs, not
            # a path the collector takes.
            cursor = connection.connection.cursor()
            cursor.executemany(
                f"INSERT INTO boots ({_BOOT_COLUMNS}) VALUES ({_marks(12)})", boot_rows
            )
            cursor.executemany(
                f"INSERT INTO crashes ({_CRASH_COLUMNS}) VALUES ({_marks(13)})", crash_rows
            )
        done += n
        print(
            f"\rgenerating: {done:,}/{boots:,} boots ({time.perf_counter() - start:.0f} s)",
            end="",
            flush=True,
        )
    print()
    start = time.perf_counter()
    with store.transaction("bench recount") as connection:
        recount(connection)
    print(f"count tables counted from the raw rows in {time.perf_counter() - start:.0f} s")
    store.dispose()


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def fleet_path(boots: int) -> Path:
    """The store file of a fleet history of ``boots`` boots, generated if not yet cached."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    path = cache / "kexec-lineage" / "bench" / f"fleet-v{VERSION}-{boots}.db"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        _generate(partial, boots)
        partial.rename(path)
    return path


def fleet_store(boots: int) -> Store:
    """The store of a fleet history of ``boots`` boots (:func:`fleet_path`)."""
    return open_store(str(fleet_path(boots)))
