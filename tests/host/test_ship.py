"""Shipping the spool to a real collector: acknowledged means deleted, nothing else."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from kexec_lineage.errors import InputError
from kexec_lineage.host.ship import Backoff, _one_shipper, ship
from kexec_lineage.host.spool import Spool
from kexec_lineage.model.boot import Boot
from tests.collector import Collector, free_port, kexec_lineage


def boot(n: int, host: str = "web-1") -> dict[str, object]:
    return Boot(host, f"00000000-0000-4000-8000-{n:012d}", "7.1.0", "cold").as_dict()


def crash(n: int, host: str = "web-1") -> dict[str, object]:
    return {
        "host": host,
        "boot_id": f"00000000-0000-4000-8000-{n:012d}",
        "title": f"WARNING in f{n}",
    }


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, str]]:
    db = str(tmp_path_factory.mktemp("db") / "fleet.db")
    token = kexec_lineage("token", "create", "--db", db, "--host", "web-1").splitlines()[-1]
    server = Collector(db)
    server.start()
    yield server, token
    server.stop()


def stored(db: str, table: str) -> int:
    with sqlite3.connect(db) as connection:
        return int(connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_sends_and_deletes(collector: tuple[Collector, str], tmp_path: Path) -> None:
    server, token = collector
    spool = Spool(tmp_path)
    before = stored(server.db, "boots")
    for n in range(250):
        spool.put("boot", boot(10_000 + n))
        spool.put("crash", crash(10_000 + n))
    result = ship(spool, server.url, token, batch_size=100)
    assert (result.sent, result.rejected, result.left) == (500, 0, 0)
    assert spool.files() == []
    assert stored(server.db, "boots") == before + 250
    # Sending the same records again stores nothing twice.
    for n in range(5):
        spool.put("boot", boot(10_000 + n))
    assert ship(spool, server.url, token).sent == 5
    assert stored(server.db, "boots") == before + 250


def test_refused_records_are_isolated(collector: tuple[Collector, str], tmp_path: Path) -> None:
    server, token = collector
    spool = Spool(tmp_path)
    for n in range(7):
        spool.put("boot", boot(20_000 + n))
    bad = spool.put("boot", {**boot(20_100), "how": "sideways"})
    spool.put("boot", boot(20_200))
    result = ship(spool, server.url, token, batch_size=50)
    assert (result.sent, result.rejected, result.left) == (8, 1, 0)
    assert (tmp_path / "rejected" / bad.name).exists()


def test_bad_token_stops_shipping(collector: tuple[Collector, str], tmp_path: Path) -> None:
    server, _ = collector
    spool = Spool(tmp_path)
    spool.put("boot", boot(30_000))
    with pytest.raises(InputError, match="refused the token: HTTP 401"):
        ship(spool, server.url, "kl_wrong")
    assert len(spool.files()) == 1


def test_down_collector_leaves_the_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.put("boot", boot(40_000))
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)

    result = ship(
        spool,
        f"http://127.0.0.1:{free_port()}",
        "kl_x",
        max_seconds=60,
        backoff=Backoff(base=0.5, cap=8),
        sleep=wait,
        clock=lambda: sum(waits),
        rng=random.Random(7),
    )
    assert (result.sent, result.left) == (0, 1)
    assert result.attempts == len(waits) + 1
    # Exponential, capped, jittered: each wait below its ceiling, never more than a minute.
    assert all(w <= min(8, 0.5 * 2**i) for i, w in enumerate(waits, 1))
    assert len(set(waits)) == len(waits)
    assert 52 < sum(waits) <= 60


def test_one_shipper_at_a_time(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    with _one_shipper(spool), pytest.raises(InputError, match="another 'kexec-lineage ship'"):
        ship(spool, "http://127.0.0.1:9", "kl_x")


def test_ship_command(collector: tuple[Collector, str], tmp_path: Path) -> None:
    server, token = collector
    (tmp_path / "token").write_text(token + "\n")
    spool = Spool(tmp_path / "state/spool")
    spool.put("boot", boot(50_000))
    out = kexec_lineage(
        "ship",
        "--to",
        server.url,
        "--token-file",
        tmp_path / "token",
        "--state-dir",
        tmp_path / "state",
    )
    assert out == "sent 1, rejected 0, left 0 (1 requests)\n"
    assert json.loads("[]") == [p.name for p in spool.files()]
