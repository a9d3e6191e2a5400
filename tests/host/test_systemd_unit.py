"""The systemd unit that runs `record` at boot, checked by systemd itself."""

from __future__ import annotations

import configparser
import sys
from pathlib import Path

from tests.conftest import REPO, run, tool

UNIT = REPO / "packaging/systemd/kexec-lineage-record.service"


def test_unit_runs_record_once_before_pstore_is_emptied() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(UNIT)
    assert unit["Service"]["Type"] == "oneshot"
    assert unit["Service"]["ExecStart"].split()[1:] == ["record"]
    assert "systemd-pstore.service" in unit["Unit"]["Before"].split()
    assert "local-fs.target" in unit["Unit"]["After"].split()


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # Point ExecStart at the installed console script so that verify can check it.
    script = Path(sys.executable).parent / "kexec-lineage"
    text = UNIT.read_text().replace("/usr/bin/kexec-lineage", str(script))
    (tmp_path / UNIT.name).write_text(text)
    run(tool("systemd-analyze"), "verify", tmp_path / UNIT.name)
