"""`record`, `status` and `kexec load` on copied trees, and with the real kexec-tools."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kexec_lineage.cli.main import main
from tests.conftest import REPO, tool
from tests.host.trees import Tree

STATUS_KEYS = {
    "host",
    "boot_id",
    "release",
    "how",
    "previous_release",
    "kexec_count",
    "previous_boot_id",
    "chain",
    "evidence",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def kexec_into(
    capsys: pytest.CaptureFixture[str], root: Path, release: str, dry: bool = True
) -> Tree:
    """Load the next kernel through the wrapper (dry run), then 'boot' it."""
    status, out, _ = run(
        capsys,
        "--root",
        root,
        "kexec",
        "load",
        "--dry-run",
        f"/boot/vmlinuz-{release}",
        "--reuse-cmdline",
    )
    assert status == 0
    cmdline = out.split("--command-line=", 1)[1].rstrip("\n").rstrip("'")
    return Tree(root, release, cmdline)


def test_chain_through_the_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Tree(tmp_path, "6.17.0")
    assert run(capsys, "--root", tmp_path, "record")[0] == 0
    for release in ("6.18.1", "6.18.3", "6.19.0"):
        kexec_into(capsys, tmp_path, release)
        status, out, err = run(capsys, "--root", tmp_path, "record", "--json")
        assert (status, err) == (0, "")
        assert json.loads(out)["recorded"] is True
    status, out, _ = run(capsys, "--root", tmp_path, "status")
    assert out == (
        "booted via kexec from 6.18.3 (count 3); chain: cold 6.17.0 -> 6.18.1 -> 6.18.3 -> 6.19.0\n"
    )
    doc = json.loads(run(capsys, "status", "--json", "--root", tmp_path)[1])
    assert set(doc) >= STATUS_KEYS
    assert (doc["how"], doc["kexec_count"], doc["previous_release"]) == ("kexec", 3, "6.18.3")
    assert [c["release"] for c in doc["chain"]] == ["6.17.0", "6.18.1", "6.18.3", "6.19.0"]
    assert [c["kexec_count"] for c in doc["chain"]] == [0, 1, 2, 3]
    assert doc["chain"][2]["boot_id"] == doc["previous_boot_id"]


def test_record_is_idempotent_within_a_boot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = Tree(tmp_path, "7.1.0")
    first = json.loads(run(capsys, "--root", tmp_path, "record", "--json")[1])
    again = json.loads(run(capsys, "--root", tmp_path, "record", "--json")[1])
    assert (first["recorded"], again["recorded"]) == (True, False)
    assert first["boot"] == again["boot"]
    spool = sorted((tmp_path / "var/lib/kexec-lineage/spool").iterdir())
    assert len(spool) == 1
    assert json.loads(spool[0].read_text())["record"]["boot_id"] == tree.boot_id
    assert run(capsys, "--root", tmp_path, "record")[1].startswith("already recorded boot ")


def test_pstore_crash_attributed_to_previous_boot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crashed = Tree(tmp_path, "7.1.2")
    run(capsys, "--root", tmp_path, "record")
    Tree(tmp_path, "7.1.2")  # warm reboot: a cold boot
    panic = [
        "sysrq: Trigger a crash",
        "Kernel panic - not syncing: sysrq triggered crash",
        "CPU: 0 PID: 96 Comm: sh Not tainted 7.1.2 #1",
        "Call Trace:",
        " <TASK>",
        " dump_stack_lvl+0x34/0x48",
        " panic+0x107/0x2a4",
        " sysrq_handle_crash+0x16/0x20",
        " __handle_sysrq+0x91/0x170",
        " write_sysrq_trigger+0x24/0x40",
        " </TASK>",
    ]
    body = b"".join(f"<0>[    9.{i:06d}] {line}\n".encode() for i, line in enumerate(panic))
    (tmp_path / "sys/fs/pstore").mkdir(parents=True)
    (tmp_path / "sys/fs/pstore/dmesg-ramoops-0").write_bytes(b"Panic#1 Part1\n" + body)
    doc = json.loads(run(capsys, "--root", tmp_path, "record", "--json")[1])
    (crash,) = doc["crashes"]
    assert crash["boot_id"] == crashed.boot_id
    assert crash["title"].startswith("kernel panic: sysrq triggered crash")
    assert crash["source"] == "pstore:panic"
    assert doc["boot"]["how"] == "cold"
    # The next boot finds the same dump still there and does not harvest it again.
    Tree(tmp_path, "7.1.2")
    assert json.loads(run(capsys, "--root", tmp_path, "record", "--json")[1])["crashes"] == []


def test_kexec_failure_comes_back(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    tool("kexec")
    Tree(tmp_path, "7.1.0")
    status = main(["--root", str(tmp_path), "kexec", "load", str(tmp_path / "no-such-kernel")])
    _, err = capfd.readouterr()
    assert status != 0
    assert "no-such-kernel" in err  # kexec-tools' own message
    (entry,) = [
        json.loads(line)
        for line in (tmp_path / "var/lib/kexec-lineage/ledger.jsonl").read_text().splitlines()
        if '"load"' in line
    ]
    assert entry["status"] == status
    assert entry["image"] == str(tmp_path / "no-such-kernel")
    assert entry["argv"][0].endswith("kexec")


def test_record_imports_only_the_standard_library(tmp_path: Path) -> None:
    Tree(tmp_path, "7.1.0")
    script = (
        "import sys, json\n"
        "from kexec_lineage.cli.main import main\n"
        f"assert main(['--root', {str(tmp_path)!r}, 'record']) == 0\n"
        "mods = {m.split('.')[0] for m in sys.modules}\n"
        "print(json.dumps(sorted(mods - set(sys.stdlib_module_names))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
    )
    foreign = [m for m in json.loads(proc.stdout.splitlines()[-1]) if not m.startswith("_")]
    assert foreign == ["kexec_lineage"]


def test_no_proc_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "--root", tmp_path, "status")
    assert (status, out) == (2, "")
    assert err.count("\n") == 1
    assert "no proc/sys/kernel/random/boot_id" in err
