"""Boot-hours from the host agent: start times, a kexec'd predecessor's whole
uptime, and the running boot's uptime with every ship, stored by a real collector."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from kexec_lineage.cli.main import main
from kexec_lineage.host.identity import read_started_at, read_uptime
from kexec_lineage.host.record import State, record, report_uptime
from kexec_lineage.host.spool import Spool
from tests.collector import Collector, kexec_lineage
from tests.host.trees import Tree

START = 1_780_000_000  # btime of the first boot


def spooled(state: State) -> list[dict[str, object]]:
    return [json.loads(p.read_text())["record"] for p in state.spool.files()]


def kexec_tree(
    root: Path, before: Tree, release: str, started_at: int, uptime: float | None = None
) -> Tree:
    """The next boot, kexec'd from ``before`` with our parameters on its command line."""
    params = f"kexec_lineage.prev={before.release} kexec_lineage.boot={before.boot_id}"
    cmdline = f"root=/dev/vda1 {params} kexec_lineage.count=1"
    return Tree(root, release, cmdline, started_at=started_at, uptime=uptime)


def test_kexec_sends_the_predecessors_whole_uptime(tmp_path: Path) -> None:
    state = State(tmp_path / "state")
    first = Tree(tmp_path, "7.0.0", started_at=START, uptime=12.0)
    record(tmp_path, state)
    (this,) = spooled(state)
    assert (this["boot_id"], this["started_at"]) == (first.boot_id, START)
    assert "hours" not in this
    for path in state.spool.files():
        path.unlink()
    second = kexec_tree(tmp_path, first, "7.1.0", started_at=START + 9000, uptime=3.0)
    assert record(tmp_path, state).boot.how == "kexec"
    this, before = spooled(state)
    assert (this["boot_id"], this["started_at"]) == (second.boot_id, START + 9000)
    assert (before["boot_id"], before["started_at"], before["hours"]) == (
        first.boot_id,
        START,
        2.5,
    )


@pytest.mark.parametrize(
    ("how", "second_start"),
    [("cold", START + 9000), ("kexec", START - 60)],
    ids=["cold-boot-gap-unknown", "clock-went-backwards"],
)
def test_no_predecessor_uptime_without_a_sound_figure(
    tmp_path: Path, how: str, second_start: int
) -> None:
    state = State(tmp_path / "state")
    first = Tree(tmp_path, "7.0.0", started_at=START)
    record(tmp_path, state)
    if how == "cold":
        Tree(tmp_path, "7.1.0", started_at=second_start)
    else:
        kexec_tree(tmp_path, first, "7.1.0", started_at=second_start)
    assert record(tmp_path, state).boot.how == how
    assert [r for r in spooled(state) if "hours" in r] == []


def test_uptime_report_replaces_only_its_own_boots(tmp_path: Path) -> None:
    state = State(tmp_path / "state")
    first = Tree(tmp_path, "7.0.0", started_at=START, uptime=60.0)
    assert report_uptime(tmp_path, state) is None  # not recorded yet: record goes first
    record(tmp_path, state)
    report_uptime(tmp_path, state)
    first.clock(None, 7200.0)
    report_uptime(tmp_path, state)
    # The collector was away across a cold reboot: the first boot's last report stays.
    Tree(tmp_path, "7.1.0", started_at=START + 90_000, uptime=30.0)
    record(tmp_path, state)
    report_uptime(tmp_path, state)
    reports = [(r["release"], r.get("hours")) for r in spooled(state)]
    assert reports == [("7.0.0", None), ("7.0.0", 2.0), ("7.1.0", None), ("7.1.0", 30 / 3600)]


@pytest.mark.parametrize(
    ("stat", "uptime", "expected"),
    [
        ("cpu 1 2\nbtime 1780000000\n", "35.50 90.00\n", (1_780_000_000.0, 35.5)),
        ("cpu 1 2\n", "", (None, None)),
        ("btime\nbtime x\n", "nan 1\n", (None, None)),
        ("btime -5\n", "-1 0\n", (None, None)),
        ("btime 1e400\n", "inf\n", (None, None)),
        ("\x00\xff garbage", "\x00", (None, None)),
    ],
)
def test_boot_clock_reads_only_sound_numbers(
    tmp_path: Path, stat: str, uptime: str, expected: tuple[float | None, float | None]
) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/stat").write_text(stat, encoding="utf-8", errors="surrogateescape")
    (tmp_path / "proc/uptime").write_text(uptime, encoding="utf-8", errors="surrogateescape")
    assert (read_started_at(tmp_path), read_uptime(tmp_path)) == expected
    nowhere = tmp_path / "nowhere"
    assert (read_started_at(nowhere), read_uptime(nowhere)) == (None, None)


def test_replaced_reports_are_whole_and_few(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(100):
        spool.put("boot", {"n": n}, replaces="uptime of a")
        spool.put("boot", {"n": -n}, replaces="uptime of b")
    kept = [json.loads(p.read_text())["record"]["n"] for p in spool.files()]
    assert kept == [99, -99]


def test_boot_hours_reach_the_collector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "fleet.db")
    token = kexec_lineage("token", "create", "--db", db, "--host", "web-1").splitlines()[-1]
    (tmp_path / "token").write_text(token)
    root = tmp_path / "root"
    collector = Collector(db)
    collector.start()
    ship = ["--root", root, "ship", "--to", collector.url, "--token-file", tmp_path / "token"]
    try:
        first = Tree(root, "7.0.0", started_at=START, uptime=1800.0)
        assert main([str(a) for a in ("--root", root, "record")]) == 0
        assert main([str(a) for a in ship]) == 0
        first.clock(None, 5400.0)
        assert main([str(a) for a in ship]) == 0
        second = kexec_tree(root, first, "7.1.0", started_at=START + 7200, uptime=900.0)
        assert main([str(a) for a in ("--root", root, "record")]) == 0
        assert main([str(a) for a in ship]) == 0
    finally:
        collector.stop()
    assert capsys.readouterr().err == ""
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT boot_id, how, started_at, hours FROM boots ORDER BY started_at"
        ).fetchall()
    assert rows == [
        (first.boot_id, "cold", START, 2.0),  # the kexec's figure beats the last report
        (second.boot_id, "kexec", START + 7200, 0.25),
    ]


def panic_dump(release: str, seconds: float) -> bytes:
    lines = [
        f"Linux version {release} (b@h) (gcc) #1 SMP",
        "sysrq: Trigger a crash",
        "Kernel panic - not syncing: sysrq triggered crash",
    ]
    return b"Panic#1 Part1\n" + b"".join(
        f"<0>[{seconds - len(lines) + 1 + i:12.6f}] {line}\n".encode()
        for i, line in enumerate(lines)
    )


@pytest.mark.parametrize(
    ("dumped", "hours"), [("7.0.0", 4000 / 3600), ("6.9.0", None)], ids=["its-dump", "another"]
)
def test_a_crash_dump_gives_the_crashed_boots_uptime(
    tmp_path: Path, dumped: str, hours: float | None
) -> None:
    state = State(tmp_path / "state")
    crashed = Tree(tmp_path, "7.0.0", started_at=START)
    record(tmp_path, state)
    Tree(tmp_path, "7.0.0", started_at=START + 4100).pstore(
        "dmesg-ramoops-0", panic_dump(dumped, 4000.0)
    )
    record(tmp_path, state)
    ended = [r for r in spooled(state) if "hours" in r]
    if hours is None:  # a dump of another release than the last recorded boot: no figure
        assert ended == []
        return
    (ended_boot,) = ended
    assert ended_boot["boot_id"] == crashed.boot_id
    assert ended_boot["hours"] == pytest.approx(hours)
    # Harvested once: the next boot finds the dump still there and sends nothing again.
    for path in state.spool.files():
        path.unlink()
    Tree(tmp_path, "7.0.0", started_at=START + 9000)
    record(tmp_path, state)
    assert [r for r in spooled(state) if "hours" in r] == []
