"""The codecs, `decode` and the kernel model against what real KHO kernels wrote.

The trees in ``tests/data/kho-real/`` are debugfs files of Linux 7.2.13 and 7.3.4 captured
by the VM tests (see its README); these checks need no VM.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kexec_lineage.abi import kexec_metadata
from kexec_lineage.abi.kho_boot import Kernel, KhoImage, boot
from kexec_lineage.abi.kho_fdt import KhoChild, build_root, parse_root
from kexec_lineage.cli.main import main
from kexec_lineage.host.kho_debugfs import read_kho_dir
from kexec_lineage.model.handover import Handover

DATA = Path(__file__).resolve().parent.parent / "data" / "kho-real"
CASES = sorted(p.name for p in DATA.iterdir() if p.is_dir())
METADATA = f"sub_fdts/{kexec_metadata.NODE_NAME}"


def case(name: str) -> tuple[Path, dict[str, Any], list[str]]:
    """A captured boot: its kho/ directory, boot.json and the kernel's KHO lines."""
    d = DATA / name
    lines = (d / "kho-lines.txt").read_text().splitlines()
    return d / "kho", json.loads((d / "boot.json").read_text()), lines


def test_the_four_kinds_are_there() -> None:
    assert CASES == [
        "7.2.13-cold",
        "7.2.13-from-7.3.4",
        "7.3.4-after-debian-7.3.4",
        "7.3.4-from-7.2.13",
    ]


@pytest.mark.parametrize("name", CASES)
def test_model_predicts_the_kernel(name: str) -> None:
    """Fed the tree the kernel received (real addresses and all), the model logs the
    kernel's lines, accepts its record and hands on its 73 bytes."""
    kho, meta, lines = case(name)
    incoming = None
    if (kho / "in").is_dir():
        fdt = (kho / "in/fdt").read_bytes()
        (child,) = parse_root(fdt).children
        incoming = KhoImage(fdt, {child.address: (kho / "in" / METADATA).read_bytes()})
    result = boot(Kernel(meta["release"], meta["kho_compatible"]), incoming)
    assert list(result.lines) == lines
    assert result.handed_on is not None
    assert kexec_metadata.encode(result.handed_on) == (kho / "out" / METADATA).read_bytes()
    count = 1 if incoming is None else int(lines[-1].rsplit(" ", 1)[1].rstrip(")")) + 1
    assert result.handed_on == Handover(meta["release"], count)


@pytest.mark.parametrize("name", CASES)
def test_build_root_rebuilds_the_real_tree(name: str) -> None:
    kho, meta, _ = case(name)
    trees = [kho / d / "fdt" for d in ("in", "out") if (kho / d / "fdt").is_file()]
    assert len(trees) == 1  # a cold boot publishes kho/out/fdt, a KHO boot kho/in/fdt only
    real = trees[0].read_bytes()
    root = parse_root(real)
    children = [KhoChild(c.name, c.address, c.size) for c in root.children]
    assert build_root(meta["kho_compatible"], root.memory_map, children) == real
    assert len(real) == 233


@pytest.mark.parametrize("name", CASES)
def test_decode_prints_the_kernels_line(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    kho, meta, lines = case(name)
    exec_from = [line for line in lines if "exec from" in line]
    if (kho / "in").is_dir():
        assert main(["decode", str(kho / "in")]) == 0
        assert capsys.readouterr().out.splitlines()[0] == exec_from[0]
    else:
        assert exec_from == []
    assert main(["decode", "--json", str(kho / "out")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["previous_release"] == meta["release"]
    assert out["blobs"] == {kexec_metadata.NODE_NAME: 73}
    (low, *_), lengths = out["scratch"], [r["size"] for r in out["scratch"]]
    assert low["address"] > 0 and len(lengths) == 3 and sum(lengths) > 0


@pytest.mark.parametrize("name", CASES)
def test_kho_out_reads_the_scratch_regions(name: str) -> None:
    out = read_kho_dir(case(name)[0] / "out")
    assert out.memory is not None and out.memory.name == "scratch"
    assert all(address % 4096 == 0 for address, _ in out.memory.regions)
