"""`kexec-lineage decode` on real files: debugfs trees, FDTs, blobs, garbage."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kexec_lineage.abi import kexec_metadata
from kexec_lineage.abi.kho_fdt import KhoChild, build_root
from kexec_lineage.cli.main import main
from kexec_lineage.host.kho_debugfs import read_kho_dir
from kexec_lineage.model.handover import Handover
from tests.collector import run_cli

LINE = "KHO: exec from: 6.19.0-rc4-next-20260107 (count 1)"
HANDOVER = Handover("6.19.0-rc4-next-20260107", 1)


def debugfs(root: Path, compatible: str = "kho-v3", blob: bytes | None = None) -> Path:
    """A kernel's kho/in directory after a KHO kexec, under ``root``."""
    d = root / "sys/kernel/debug/kho/in"
    (d / "sub_fdts").mkdir(parents=True)
    children = [KhoChild("kexec-metadata", 0x116BE5000, 73), KhoChild("LUO", 0x116BE6000, 24)]
    (d / "fdt").write_bytes(build_root(compatible, 0x116BE4000, children))
    (d / "sub_fdts/kexec-metadata").write_bytes(blob or kexec_metadata.encode(HANDOVER))
    (d / "sub_fdts/LUO").write_bytes(b"luo-v3\0\0" + bytes(16))
    return d


def cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_debugfs_tree_prints_the_kernel_line_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = cli(capsys, "decode", debugfs(tmp_path))
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == LINE
    assert lines[1] == "compatible            kho-v3 (KHO ABI v3)"
    assert lines[2] == "preserved-memory-map  0x116be4000"
    assert lines[4].split() == ["NAME", "PRESERVED-DATA", "BLOB-SIZE", "FILE"]
    assert lines[5].split() == ["LUO", "0x116be6000", "24", "24"]
    assert lines[6].split() == ["kexec-metadata", "0x116be5000", "73", "73"]


def test_root_option_finds_debugfs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    debugfs(tmp_path)
    status, out, _ = cli(capsys, "--root", tmp_path, "decode")
    assert status == 0 and out.splitlines()[0] == LINE
    status, out, _ = cli(capsys, "decode", "--root", tmp_path)
    assert status == 0 and out.splitlines()[0] == LINE


def test_blob_prints_exactly_the_kernel_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blob = tmp_path / "kexec-metadata"
    blob.write_bytes(kexec_metadata.encode(HANDOVER))
    assert cli(capsys, "decode", blob) == (0, LINE + "\n", "")


def test_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(
        capsys, "decode", "--json", debugfs(tmp_path, "kho-v4;radix-v1;vmalloc-v1")
    )
    doc = json.loads(out)
    assert status == 0
    assert doc["source"] == "debugfs"
    assert (doc["version"], doc["previous_release"], doc["kexec_count"]) == (
        1,
        HANDOVER.previous_release,
        1,
    )
    assert doc["compatible"] == "kho-v4;radix-v1;vmalloc-v1"
    assert doc["kho_version"] == 4
    assert doc["components"] == ["radix-v1", "vmalloc-v1"]
    assert doc["children"] == [
        {"name": "LUO", "address": 0x116BE6000, "size": 24, "blob_size": 24},
        {"name": "kexec-metadata", "address": 0x116BE5000, "size": 73, "blob_size": 73},
    ]


def test_fdt_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fdt = debugfs(tmp_path) / "fdt"
    status, out, _ = cli(capsys, "decode", fdt)
    assert status == 0
    assert out.splitlines()[0] == "kexec-metadata: at 0x116be5000, 73 bytes; contents not given"
    doc = json.loads(cli(capsys, "decode", "--json", fdt)[1])
    assert doc["source"] == "fdt"
    assert doc["previous_release"] is None and doc["kexec_count"] is None and doc["version"] is None


def test_out_dir_after_kho_boot_has_no_fdt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = debugfs(tmp_path)
    (d / "fdt").unlink()
    assert cli(capsys, "decode", d) == (0, LINE + "\n", "")


def test_big_endian_blob(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(
        kexec_metadata.encode(HANDOVER, "big" if sys.byteorder == "little" else "little")
    )
    status, out, err = cli(capsys, "decode", blob)
    assert (status, out) == (2, "")
    assert err.count("\n") == 1
    assert "try --byte-order" in err
    other = "big" if sys.byteorder == "little" else "little"
    assert cli(capsys, "decode", "--byte-order", other, blob) == (0, LINE + "\n", "")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"garbage!",
            "not a KHO FDT, and as kexec-metadata: "
            "kexec-metadata version 1651663207 not supported (expected 1)",
        ),
        (
            b"\1\0\0\0",
            "not a KHO FDT, and as kexec-metadata: kexec-metadata blob too small for v1 (4 < 73)",
        ),
        (b"", "not a KHO FDT, and as kexec-metadata: kexec-metadata blob too small (0 bytes)"),
        (b"\xd0\x0d\xfe\xed" + bytes(60), "FDT header is invalid: FDT_ERR_BADVERSION"),
    ],
)
def test_garbage_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    path = tmp_path / "garbage"
    path.write_bytes(content)
    status, out, err = cli(capsys, "decode", path)
    assert (status, out) == (2, "")
    assert err.endswith(message + "\n")
    assert err.count("\n") == 1


def test_bad_metadata_in_debugfs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = debugfs(tmp_path, blob=b"\2\0\0\0" + bytes(69))
    assert cli(capsys, "decode", d) == (
        2,
        "",
        f"kexec-lineage: error: {d}/sub_fdts/kexec-metadata: "
        "kexec-metadata version 2 not supported (expected 1)\n",
    )
    (d / "fdt").write_bytes(b"\xd0\x0d\xfe\xed" + bytes(60))
    assert cli(capsys, "decode", d)[2] == (
        f"kexec-lineage: error: {d}/fdt: FDT header is invalid: FDT_ERR_BADVERSION\n"
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "{p}/sys/kernel/debug/kho/in does not exist"),
        (
            lambda p: (p / "kho/in").mkdir(parents=True) or p / "kho",
            "{p}/kho: not a KHO debugfs directory (no fdt, no sub_fdts/); "
            "did you mean {p}/kho/in or {p}/kho/out?",
        ),
        (lambda p: p / "missing", "cannot read {p}/missing: No such file or directory"),
    ],
)
def test_path_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make, message: str
) -> None:
    target: Path = make(tmp_path)
    argv: list[str | Path] = (
        ["--root", tmp_path, "decode"] if target == tmp_path else ["decode", target]
    )
    status, out, err = cli(capsys, *argv)
    assert (status, out) == (2, "")
    assert message.format(p=tmp_path) in err
    assert err.count("\n") == 1


def test_real_process_garbage_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "g").write_bytes(os.urandom(37) + b"\xff")
    proc = run_cli("decode", tmp_path / "g")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_real_process_debugfs(tmp_path: Path) -> None:
    proc = run_cli("--root", tmp_path, "decode") if debugfs(tmp_path) else None
    assert proc is not None and proc.returncode == 0
    assert proc.stdout.splitlines()[0] == LINE


def test_usage_error_is_one_line() -> None:
    proc = run_cli("decode", "--byte-order", "middle")
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1
    assert "invalid choice: 'middle'" in proc.stderr


@pytest.mark.parametrize("name", ["scratch", "bootmem"])
def test_out_dir_regions_under_either_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Linux 7.4 renamed kho/out's scratch_phys/scratch_len to bootmem_phys/bootmem_len."""
    out = tmp_path / "out"
    (out / "sub_fdts").mkdir(parents=True)
    (out / "sub_fdts/kexec-metadata").write_bytes(kexec_metadata.encode(HANDOVER))
    (out / f"{name}_phys").write_text("0x1000000\n0x3f000000\n")
    (out / f"{name}_len").write_text("0x800000\n0x1000000\n")
    status, text, err = cli(capsys, "decode", out)
    assert (status, err) == (0, "")
    assert text.splitlines()[1:] == [
        f"{name.upper()} ADDRESS  LENGTH",
        "0x1000000" + " " * (len(name) + 1) + "0x800000",
        "0x3f000000" + " " * len(name) + "0x1000000",
    ]
    status, text, _ = cli(capsys, "decode", "--json", out)
    assert json.loads(text)[name] == [
        {"address": 0x1000000, "size": 0x800000},
        {"address": 0x3F000000, "size": 0x1000000},
    ]


@pytest.mark.parametrize(
    ("phys", "length", "error"),
    [
        ("0x1000\n0x2000\n", "0x10\n", "1 scratch_len"),
        ("0x1000\nnot hex\n", "0x10\n0x20\n", "not one hexadecimal number per line"),
        (b"\xff\n", "0x10\n", "not one hexadecimal number per line"),
        ("-0x10\n", "0x10\n", "not one hexadecimal number per line"),
        ("0x1_0\n", "0x10\n", "not one hexadecimal number per line"),
    ],
)
def test_broken_region_files_are_one_warning(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    phys: str | bytes,
    length: str,
    error: str,
) -> None:
    """The regions only inform: a bad file of them is named, and the rest decoded."""
    out = tmp_path / "out"
    (out / "sub_fdts").mkdir(parents=True)
    (out / "sub_fdts/kexec-metadata").write_bytes(kexec_metadata.encode(HANDOVER))
    (out / "scratch_phys").write_bytes(phys if isinstance(phys, bytes) else phys.encode())
    (out / "scratch_len").write_text(length)
    status, text, err = cli(capsys, "decode", out)
    assert (status, text) == (0, LINE + "\n")
    assert err.startswith("kexec-lineage: warning: ") and err.count("\n") == 1
    assert error in err


@settings(max_examples=300)
@given(phys=st.binary(max_size=64), length=st.binary(max_size=64))
def test_region_files_of_any_bytes_are_read_or_refused(phys: bytes, length: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "bootmem_phys").write_bytes(phys)
        (out / "bootmem_len").write_bytes(length)
        (out / "sub_fdts").mkdir()
        kho = read_kho_dir(out)
        if kho.memory is None:
            assert len(kho.problems) == 1
        else:
            assert kho.problems == ()
            assert all(0 <= a < 1 << 64 and 0 <= n < 1 << 64 for a, n in kho.memory.regions)
