"""The ledger survives torn writes and rotation; the spool stays whole and bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from kexec_lineage.host.ledger import Ledger
from kexec_lineage.host.record import State, record
from kexec_lineage.host.spool import Spool
from kexec_lineage.model.boot import Boot
from tests.conftest import REPO
from tests.host.trees import Tree


def boot_entry(n: int, how: str = "kexec") -> dict[str, object]:
    boot = Boot("web-1", f"{n:08d}-0000-4000-8000-000000000000", f"7.1.{n}", how, kexec_count=n)
    return {"type": "boot", "time": n, "boot": boot.as_dict()}


def test_append_and_read(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "state")
    assert ledger.entries() == []
    for n in range(3):
        ledger.append(boot_entry(n))
    assert [b.release for b in ledger.boots()] == ["7.1.0", "7.1.1", "7.1.2"]
    assert Boot.from_dict(ledger.boots()[1].as_dict()) == ledger.boots()[1]


def test_torn_last_line_is_skipped_and_closed(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.append(boot_entry(1))
    with ledger.path.open("ab") as f:
        f.write(b'{"type": "boot", "boot": {"host"')  # power lost mid-write
    assert len(ledger.entries()) == 1
    ledger.append(boot_entry(2))
    assert [b.release for b in ledger.boots()] == ["7.1.1", "7.1.2"]
    assert ledger.path.read_bytes().count(b"\n") == 3


def test_garbage_entries_are_ignored(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.path.write_bytes(
        b'[1]\n{"type":"boot","boot":{"how":"sideways"}}\n' + b"[" * 100000 + b"\n"
    )
    ledger.append(boot_entry(3))
    assert [b.release for b in ledger.boots()] == ["7.1.3"]


def test_rotation_keeps_the_current_chain(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, max_bytes=2000)
    ledger.append(boot_entry(0, "cold"))
    for n in range(1, 10):
        ledger.append(boot_entry(n))
    ledger.append(boot_entry(10, "cold"))
    assert ledger.previous.exists()
    rotated = ledger.previous.read_bytes()
    n = 11
    while ledger.previous.read_bytes() == rotated:  # until it rotates again
        ledger.append(boot_entry(n))
        n += 1
    assert ledger.path.stat().st_size <= 2000
    current = [json.loads(line)["boot"]["release"] for line in ledger.path.read_text().split()]
    assert current[0] == "7.1.10"  # the new file starts at the last cold boot
    # Readers merge both files without duplicates.
    releases = [b.release for b in ledger.boots()]
    assert releases[releases.index("7.1.10") :] == [f"7.1.{i}" for i in range(10, n)]
    assert len(releases) == len(set(releases))


def test_crash_between_rotation_renames(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    for n in range(3):
        ledger.append(boot_entry(n))
    # Died after renaming ledger.jsonl to ledger.jsonl.1, before the new file.
    ledger.path.replace(ledger.previous)
    assert [b.release for b in ledger.boots()] == ["7.1.0", "7.1.1", "7.1.2"]
    ledger.append(boot_entry(3))
    assert [b.release for b in ledger.boots()][-1] == "7.1.3"


def test_killed_writers_never_leave_a_bad_ledger(tmp_path: Path) -> None:
    # Real processes appending at once and killed mid-way: every line read back is whole.
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from kexec_lineage.host.ledger import Ledger;"
        "l = Ledger(__import__('pathlib').Path(sys.argv[2]), max_bytes=20000);"
        "[l.append({'type': 'x', 'n': i, 'pad': 'y' * 50}) for i in range(100000)]"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(REPO / "src"), str(tmp_path)])
        for _ in range(3)
    ]
    # Kill only once they are writing, however slow the machine is to start them.
    deadline = time.monotonic() + 60
    while not any(p.stat().st_size for p in tmp_path.glob("ledger.jsonl*")):
        assert time.monotonic() < deadline, "no writer wrote anything"
        time.sleep(0.01)
    time.sleep(0.3)
    for proc in procs:
        proc.kill()
        proc.wait()
    entries = Ledger(tmp_path).entries()
    assert entries
    assert all(e["type"] == "x" and e["pad"] == "y" * 50 for e in entries)


def test_spool_whole_files_bounded_oldest_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_files=5)
    paths = [spool.put("boot", {"n": n}) for n in range(130)]
    files = spool.files()
    # Bounded every 64 puts: at most 5 files after the check, plus what came since.
    assert files == paths[-(5 + 130 - 129) :]
    assert [json.loads(p.read_text())["record"]["n"] for p in files] == list(range(124, 130))
    assert not [p for p in os.listdir(tmp_path / "spool") if p.endswith(".tmp")]


def test_a_huge_ledger_is_read_only_at_its_end(tmp_path: Path) -> None:
    # 100k boots in ledger.jsonl (by hand, or an older agent) and 35 MB in the rotated
    # file: record reads the last 256 KiB and still finds the boot it follows.
    state = tmp_path / "var/lib/kexec-lineage"
    state.mkdir(parents=True)
    lines = [json.dumps(boot_entry(n), sort_keys=True).encode() + b"\n" for n in range(100_000)]
    (state / "ledger.jsonl.1").write_bytes(b"".join(lines) + b"".join(lines[:10_000]))
    (state / "ledger.jsonl").write_bytes(b"".join(lines))
    ledger = Ledger(state)
    entries = ledger.entries()
    assert 0 < len(entries) <= ledger.window // min(map(len, lines))
    assert entries[-1] == boot_entry(99_999)
    assert [e["time"] for e in entries] == list(range(100_000 - len(entries), 100_000))
    last = entries[-1]["boot"]["boot_id"]
    Tree(
        tmp_path,
        "7.2.0",
        f"kexec_lineage.prev=7.1.99999 kexec_lineage.count=9 kexec_lineage.boot={last}",
    )
    result = record(tmp_path, State(state))
    assert (result.boot.how, result.boot.previous_release) == ("kexec", "7.1.99999")
    assert "ledger" in [e.source for e in result.boot.evidence]


def test_the_window_starts_on_a_whole_line(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, max_bytes=100)
    line = json.dumps({"type": "x", "n": 0}).encode() + b"\n"
    tmp_path.joinpath("ledger.jsonl").write_bytes(line * 40)
    # The window is exactly whole lines: none is cut, none dropped.
    ledger.window = len(line) * 5
    assert len(ledger.entries()) == 1  # identical lines are one
    tmp_path.joinpath("ledger.jsonl").write_bytes(
        b"".join(json.dumps({"n": n}).encode().ljust(19) + b"\n" for n in range(40))
    )
    ledger.window = 20 * 5
    assert [e["n"] for e in ledger.entries()] == [35, 36, 37, 38, 39]
