"""Shipping the spool to a real collector: acknowledged means deleted, nothing else."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from kexec_lineage.errors import InputError
from kexec_lineage.host.record import State, record
from kexec_lineage.host.ship import Backoff, _one_shipper, ship
from kexec_lineage.host.spool import Spool
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.wire import SYNTHETIC_BOOT_PREFIX
from tests.collector import Collector, free_port, kexec_lineage, run_cli
from tests.host.test_uptime import panic_dump
from tests.host.trees import Tree
from tests.http_front import front


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


@pytest.mark.parametrize("status", [404, 405, 400, 409])
def test_an_answer_not_about_content_keeps_the_spool(tmp_path: Path, status: int) -> None:
    spool = Spool(tmp_path)
    for n in range(3):
        spool.put("boot", boot(60_000 + n))
    refused = pytest.raises(InputError, match=f"answered HTTP {status}: not a kexec-lineage")
    with front(status, body=b"<html>nope</html>") as web, refused:
        ship(spool, web.url, "kl_x")
    assert len(spool.files()) == 3
    assert not (tmp_path / "rejected").exists()


def test_a_wrong_path_on_the_real_collector_keeps_the_spool(
    collector: tuple[Collector, str], tmp_path: Path
) -> None:
    server, token = collector
    spool = Spool(tmp_path)
    spool.put("boot", boot(61_000))
    with pytest.raises(InputError, match="answered HTTP 404"):
        ship(spool, server.url + "/api", token)
    assert len(spool.files()) == 1


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_not_followed(
    collector: tuple[Collector, str], tmp_path: Path, status: int
) -> None:
    _, token = collector
    spool = Spool(tmp_path)
    spool.put("boot", boot(62_000 + status))
    with front(404) as target, front(status, {"Location": target.url + "/v1/boots"}) as web:
        with pytest.raises(InputError, match=f"HTTP {status}, a redirect to {target.url}"):
            ship(spool, web.url, token)
        assert target.seen == []  # the token went nowhere else
        assert [s.authorization for s in web.seen] == [f"Bearer {token}"]
    assert len(spool.files()) == 1


def test_a_refusal_that_names_records_rejects_only_those(
    collector: tuple[Collector, str], tmp_path: Path
) -> None:
    server, token = collector
    spool = Spool(tmp_path)
    good = [spool.put("boot", boot(63_000 + n)) for n in range(5)]
    bad = spool.put("crash", {**crash(63_100), "title": ""})
    spool.put("crash", crash(63_101))
    result = ship(spool, server.url, token, batch_size=50)
    assert (result.sent, result.rejected, result.left) == (6, 1, 0)
    assert [p.name for p in (tmp_path / "rejected").iterdir()] == [bad.name]
    assert result.attempts == 3  # the boots, the crashes, the crash left: no halving
    assert not any(p.exists() for p in good)


def test_damaged_spool_files_are_quarantined(
    collector: tuple[Collector, str], tmp_path: Path
) -> None:
    server, token = collector
    spool = Spool(tmp_path)
    spool.put("boot", boot(64_000))
    whole = spool.put("boot", boot(64_001)).read_bytes()
    damaged = {
        "0-truncated.json": whole[: len(whole) // 2],
        "1-empty.json": b"",
        "2-not-json.json": b"\x7fELF",
        "3-unknown-kind.json": b'{"kind": "reboot", "record": {}}',
        "4-bad-utf8.json": whole.replace(b"web-1", b"web-\xff"),
        "5-a-list.json": b"[1, 2]",
    }
    for name, data in damaged.items():
        (tmp_path / name).write_bytes(data)
    result = ship(spool, server.url, token)
    assert (result.sent, result.rejected, result.left) == (2, 0, 0)
    quarantined = tmp_path / "damaged"
    assert sorted(p.name for p in quarantined.glob("*.json")) == sorted(damaged)
    for name, data in damaged.items():
        assert (quarantined / name).read_bytes() == data
        assert (quarantined / f"{name}.why").read_text().strip()
    # Nothing is left to fail the next run.
    assert ship(spool, server.url, token) == type(result)(0, 0, 0, 0)


def test_a_token_file_with_the_whole_create_output(
    collector: tuple[Collector, str], tmp_path: Path
) -> None:
    server, token = collector
    token_file = tmp_path / "token"
    token_file.write_text(f"created a host web-1 token; keep it secret:\n{token}\n\n")
    (tmp_path / "state/spool").mkdir(parents=True)
    Spool(tmp_path / "state/spool").put("boot", boot(65_000))
    argv = ("ship", "--to", server.url, "--token-file", token_file)
    out = kexec_lineage(*argv, "--state-dir", tmp_path / "state")
    assert out.startswith("sent 1, rejected 0, left 0")


@pytest.mark.parametrize(
    "contents",
    ["kl_short\n", "Bearer kl_" + "a" * 43 + "\n", "kl_" + "a" * 42 + '"\n', "\xff\xfe", ""],
)
def test_a_bad_token_file_is_one_line_that_does_not_show_it(tmp_path: Path, contents: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(contents, encoding="utf-8", errors="surrogateescape")
    argv = ("ship", "--to", "http://127.0.0.1:9", "--token-file", token_file)
    result = run_cli(*argv, "--state-dir", tmp_path / "state")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "is not a kexec-lineage token" in result.stderr
    for secret in ("kl_short", "a" * 40):
        assert secret not in result.stderr


def test_ship_exits_non_zero_with_one_line_and_keeps_the_spool(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("kl_" + "b" * 43 + "\n")
    spool = Spool(tmp_path / "state/spool")
    spool.put("boot", boot(66_000))
    with front(405) as web:
        argv = ("ship", "--to", web.url, "--token-file", token_file)
        result = run_cli(*argv, "--state-dir", tmp_path / "state")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "HTTP 405" in result.stderr
    assert "b" * 43 not in result.stderr
    assert len(spool.files()) == 1


def test_a_crash_found_at_the_first_record_reaches_the_collector(
    collector: tuple[Collector, str], tmp_path: Path
) -> None:
    server, token = collector
    dump = panic_dump("7.0.0", 4000.0)
    ids = []
    for attempt in ("first", "again"):
        root = tmp_path / attempt
        Tree(root, "7.1.0").pstore("dmesg-ramoops-0", dump)
        state = State(root / "var/lib/kexec-lineage")
        (crash_record,) = record(root, state).crashes
        ids.append(crash_record.boot_id)
        result = ship(state.spool, server.url, token)
        assert (result.sent, result.rejected, result.left) == (2, 0, 0)
    # Nothing names the crashed boot: an id made from the dump, marked, the same each time.
    assert ids[0] == ids[1] and ids[0].startswith(SYNTHETIC_BOOT_PREFIX)
    with sqlite3.connect(server.db) as connection:
        rows = connection.execute(
            "SELECT title FROM crashes JOIN hosts ON hosts.id = crashes.host_id "
            "WHERE crashes.boot_id = ?",
            (ids[0],),
        ).fetchall()
    assert rows == [("kernel panic: sysrq triggered crash",)]
