"""The systemd units that run `record` at boot and `ship` on a timer, checked by systemd itself."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, tool

UNITS = REPO / "packaging/systemd"
NAMES = ("kexec-lineage-record.service", "kexec-lineage-ship.service", "kexec-lineage-ship.timer")


def unit(name: str) -> configparser.ConfigParser:
    parsed = configparser.ConfigParser(strict=False, interpolation=None)
    parsed.read(UNITS / name)
    return parsed


def test_record_runs_once_before_pstore_is_emptied() -> None:
    record = unit("kexec-lineage-record.service")
    assert record["Service"]["Type"] == "oneshot"
    assert record["Service"]["ExecStart"].split()[1:] == ["record"]
    assert "systemd-pstore.service" in record["Unit"]["Before"].split()
    assert "local-fs.target" in record["Unit"]["After"].split()


def test_ship_runs_after_record_and_may_write_only_the_state() -> None:
    ship = unit("kexec-lineage-ship.service")
    assert ship["Service"]["ExecStart"].split()[1] == "ship"
    assert "kexec-lineage-record.service" in ship["Unit"]["After"].split()
    assert (ship["Service"]["ProtectSystem"], ship["Service"]["ReadWritePaths"]) == (
        "strict",
        "/var/lib/kexec-lineage",
    )
    assert unit("kexec-lineage-ship.timer")["Timer"]["OnUnitActiveSec"] == "15min"


@pytest.mark.parametrize("name", NAMES)
def test_systemd_analyze_verify(tmp_path: Path, name: str) -> None:
    # Point ExecStart at the installed console script so that verify can check it;
    # a timer is verified beside the service it starts.
    script = Path(sys.executable).parent / "kexec-lineage"
    for each in NAMES:
        text = (UNITS / each).read_text().replace("/usr/bin/kexec-lineage", str(script))
        (tmp_path / each).write_text(text)
    verify = subprocess.run(
        [tool("systemd-analyze"), "verify", tmp_path / name],
        capture_output=True,
        text=True,
        check=False,
    )
    # verify exits 0 on unknown keys and only warns: its warnings fail the test too.
    assert (verify.returncode, verify.stderr) == (0, "")
