"""`kexec-lineage crashes` and `kexec-lineage boots` on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kexec_lineage.cli.main import main
from tests.logs.builders import console, kernel_boot

WARNING = [
    "------------[ cut here ]------------",
    "WARNING: CPU: 0 PID: 1 at net/core/dev.c:1234 dev_close+0x10/0x20",
    "Modules linked in:",
    "CPU: 0 PID: 1 Comm: init Not tainted 7.1.2 #1",
    "RIP: 0010:dev_close+0x10/0x20",
    "Call Trace:",
    " <TASK>",
    " net_shutdown+0x1/0x2",
    " __x64_sys_ioctl+0x1/0x2",
    " </TASK>",
    "---[ end trace 0000000000000000 ]---",
]


def write_chain(path: Path) -> int:
    """Two boots; the second has a WARNING. Returns the crash's line offset."""
    first, state = kernel_boot("7.1.0")
    second, _ = kernel_boot(
        "7.1.2",
        "console=ttyS0 kexec_lineage.prev=7.1.0 kexec_lineage.count=1",
        state,
        body=tuple(WARNING),
        ending=("reboot: Restarting system",),
    )
    head, tail = console(first), console(second)
    path.write_bytes(head + tail)
    return len(head) + tail.index(b"[", tail.index(b"WARNING: CPU") - 20)


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_crashes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "console.log"
    write_chain(log)
    clean = tmp_path / "clean.log"
    clean.write_bytes(console(kernel_boot("7.1.0")[0]))
    status, out, err = run(capsys, "crashes", "--json", log, clean)
    assert (status, err) == (0, "")
    (crash,) = json.loads(out)
    assert crash["file"] == str(log)
    assert crash["boot"] == 1
    assert crash["release"] == "7.1.2"
    assert crash["title"] == "WARNING in dev_close"
    assert crash["type"] == "WARNING"
    assert crash["frame"] == "dev_close"
    assert crash["alt_titles"] == []
    assert (crash["corrupted"], crash["panicked"]) == (False, False)
    assert log.read_bytes()[crash["offset"] :].startswith(b"[")
    assert "WARNING: CPU: 0 PID: 1" in crash["report"]


def test_crashes_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "console.log"
    write_chain(log)
    status, out, _ = run(capsys, "crashes", log)
    assert status == 0
    header, row = out.splitlines()
    assert header.split() == ["TITLE", "TYPE", "FILE", "BOOT", "OFFSET"]
    assert row.split()[:5] == ["WARNING", "in", "dev_close", "WARNING", str(log)]
    assert row.split()[5] == "1"


def split_pstore_dump(tmp_path: Path) -> Path:
    """A pstore directory holding one panic dump in two records (Part1 the newest lines)."""
    pstore = tmp_path / "pstore"
    pstore.mkdir()
    lines = [f"<4>[  100.{i:06d}] {line}\n".encode() for i, line in enumerate(WARNING)]
    lines.append(b"<0>[  100.000020] Kernel panic - not syncing: panic_on_warn set ...\n")
    (pstore / "dmesg-ramoops-0").write_bytes(b"Panic#1 Part1\n" + b"".join(lines[6:]))
    (pstore / "dmesg-ramoops-1").write_bytes(b"Panic#1 Part2\n" + b"".join(lines[:6]))
    return pstore


def test_crashes_in_pstore_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pstore = split_pstore_dump(tmp_path)
    status, out, _ = run(capsys, "crashes", "--json", pstore)
    assert status == 0
    # syzkaller reports the panic that follows as a report of its own.
    crash, panic = json.loads(out)
    assert (panic["title"], panic["corrupted"]) == ("kernel panic: panic_on_warn set", True)
    assert crash["source"] == "pstore:panic"
    assert crash["file"] == f"{pstore}/dmesg-ramoops-1+{pstore}/dmesg-ramoops-0"
    assert crash["title"] == "WARNING in dev_close"
    assert crash["panicked"] is True


def test_boots_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "console.log"
    write_chain(log)
    status, out, _ = run(capsys, "boots", log)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "FILE",
        "BOOT",
        "RELEASE",
        "STARTED",
        "KHO",
        "PARAMS",
        "ENDED",
        "CRASHES",
    ]
    assert lines[1].split() == [str(log), "0", "7.1.0", "cold", "-", "-", "kexec", "0"]
    assert lines[2].split() == [
        str(log),
        "1",
        "7.1.2",
        "kexec",
        "KHO:",
        "exec",
        "from:",
        "7.1.0",
        "(count",
        "1)",
        "kexec_lineage.prev=7.1.0",
        "kexec_lineage.count=1",
        "reboot",
        "1",
    ]
    status, out, _ = run(capsys, "boots", "--json", log)
    assert status == 0
    first, second = json.loads(out)
    assert second["kho_line"] == "KHO: exec from: 7.1.0 (count 1)"
    assert second["params"] == {"prev": "7.1.0", "count": 1, "boot": None, "problems": []}
    assert second["start_evidence"][0] == "KHO exec from line"
    assert (first["crashes"], second["crashes"]) == (0, 1)


def test_bad_files_are_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "crashes", tmp_path / "missing.log")
    assert (status, out) == (2, "")
    assert (
        err
        == f"kexec-lineage: error: cannot read {tmp_path}/missing.log: No such file or directory\n"
    )
    (tmp_path / "x.enc.z").write_bytes(b"junk")
    status, out, err = run(capsys, "boots", tmp_path / "x.enc.z")
    assert status == 2
    assert err.count("\n") == 1


def test_garbage_is_a_log_without_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(bytes(range(256)) * 64)
    assert run(capsys, "crashes", "--json", junk) == (0, "[]\n", "")


def test_corpus_titles_through_the_cli(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The logs without their header lines, in a temporary folder.
    expected = {}
    files = []
    for path in sorted((shared / "corpus/syzkaller-linux-report").iterdir())[:40]:
        header, _, body = path.read_bytes().replace(b"\r", b"").partition(b"\n\n")
        titles = [line[7:] for line in header.decode().splitlines() if line.startswith("TITLE: ")]
        files.append(tmp_path / path.name)
        files[-1].write_bytes(body)
        expected[str(files[-1])] = titles[0] if titles and titles[0] else None
    status, out, _ = run(capsys, "crashes", "--json", "--format", "console", *files)
    assert status == 0
    first: dict[str, str] = {}
    for crash in json.loads(out):
        first.setdefault(crash["file"], crash["title"])
    got = {name: first.get(name) for name in expected}
    assert got == expected
