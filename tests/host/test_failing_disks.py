"""The agent on a full disk and a read-only state directory: one error line, and the
ledger and spool say nothing they were not told in full."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kexec_lineage.errors import InputError
from kexec_lineage.host.ledger import Ledger
from kexec_lineage.host.spool import Spool
from tests.collector import run_cli
from tests.host.mounts import fill, read_only, small_disk
from tests.host.test_ledger import boot_entry
from tests.host.trees import Tree


def big_entry(n: int, size: int) -> dict[str, object]:
    return boot_entry(n) | {"note": "x" * size}


def test_a_short_ledger_write_is_taken_back(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", 64 << 10) as disk:
        ledger = Ledger(disk / "state")
        ledger.append(big_entry(1, 300))
        before = ledger.path.read_bytes()
        fill(disk)
        with pytest.raises(InputError, match="No space left on device"):
            # Larger than what is left of the file's last page, which the disk still takes.
            ledger.append(big_entry(2, 6000))
        # The disk took part of the line: gone again.
        assert ledger.path.read_bytes() == before
        assert [e["boot"]["release"] for e in ledger.entries()] == ["7.1.1"]


def test_a_spool_write_on_a_full_disk_leaves_no_file(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", 64 << 10) as disk:
        spool = Spool(disk / "spool")
        spool.put("boot", {"n": 1})
        fill(disk)
        with pytest.raises(InputError, match="No space left on device"):
            spool.put("boot", {"n": 2, "pad": "y" * 8000})
        assert [json.loads(p.read_text())["record"]["n"] for p in spool.files()] == [1]
        assert sorted(p.name for p in spool.directory.iterdir() if p.name.endswith(".tmp")) == []


def test_record_on_a_full_disk_fails_with_one_line(tmp_path: Path) -> None:
    Tree(tmp_path, "7.1.0")
    with small_disk(tmp_path / "var/lib/kexec-lineage", 64 << 10) as disk:
        fill(disk)
        result = run_cli("--root", tmp_path, "record")
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and "No space left on device" in result.stderr
        assert "recorded" not in result.stdout
        assert not (disk / "ledger.jsonl").exists() or (disk / "ledger.jsonl").stat().st_size == 0


@pytest.mark.parametrize("command", ["record", "ship", "status"])
def test_a_read_only_state_directory_is_one_line(tmp_path: Path, command: str) -> None:
    Tree(tmp_path, "7.1.0")
    state = tmp_path / "var/lib/kexec-lineage"
    state.mkdir(parents=True)
    token = tmp_path / "token"
    token.write_text("kl_" + "c" * 43 + "\n")
    extra: list[str | Path] = []
    if command == "ship":
        extra = ["--to", "http://127.0.0.1:9", "--token-file", token]
    with read_only(state):
        result = run_cli("--root", tmp_path, command, *extra)
    assert "Traceback" not in result.stderr
    if command == "status":
        assert result.returncode == 0  # reading needs no write
        return
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Read-only file system" in result.stderr
