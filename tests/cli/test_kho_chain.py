"""`kexec-lineage kho-chain`: the modelled chain across kho-v3 -> kho-v4."""

from __future__ import annotations

import json

import pytest

from kexec_lineage.cli.main import main


def test_json_shows_count_reset_at_abi_change(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kho-chain", "--json"]) == 0
    boots = json.loads(capsys.readouterr().out)
    counts = [b["handed_on"]["kexec_count"] for b in boots]
    assert counts == [1, 2, 3, 1, 2]
    assert boots[0]["kernel_lines"] == []
    assert boots[3]["kernel_lines"][-1] == "KHO: disabling KHO revival"
    assert boots[4]["kernel_lines"][-1] == "KHO: exec from: 7.2.0 (count 1)"


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kho-chain"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["BOOT", "RELEASE", "KHO"]
    assert lines[4].split()[:4] == ["kexec", "-s", "7.2.0", "kho-v4"]
