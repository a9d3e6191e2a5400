"""The KHO root FDT: dtc-compiled trees in, dtc/fdtdump-read trees out, properties."""

from __future__ import annotations

import contextlib
import re
import struct
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kexec_lineage.abi.kho_fdt import KhoChild, KhoCompatible, KhoRoot, build_root, parse_root
from kexec_lineage.errors import (
    EncodeError,
    FdtError,
    FdtIncompatible,
    FdtInvalid,
    FdtNodeError,
)
from tests.conftest import run, tool

MEMORY_MAP = 0x1_16BE_4000


def u64(value: int, order: str = sys.byteorder) -> str:
    """A host-endian u64 in dts byte-string syntax, as KHO stores it."""
    raw = struct.pack("<Q" if order == "little" else ">Q", value)
    return "[" + " ".join(f"{b:02x}" for b in raw) + "]"


def dts(compatible: str, children: str, memory_map: str | None = None) -> str:
    return (
        "/dts-v1/;\n/ {\n"
        f'\tcompatible = "{compatible}";\n'
        f"\tpreserved-memory-map = {memory_map or u64(MEMORY_MAP)};\n"
        f"{children}}};\n"
    )


def dtc(source: str, tmp_path: Path) -> bytes:
    (tmp_path / "t.dts").write_text(source)
    run(tool("dtc"), "-q", "-I", "dts", "-O", "dtb", "-o", tmp_path / "t.dtb", tmp_path / "t.dts")
    return (tmp_path / "t.dtb").read_bytes()


def node(name: str, **props: str) -> str:
    body = "".join(f"\t\t{key.replace('_', '-')} = {value};\n" for key, value in props.items())
    return f"\t{name} {{\n{body}\t}};\n"


V1 = dts("kho-v1", node("memblock", fdt=u64(0x80CC16_000)) + node("LUO", fdt=u64(0x12345000)))
V2 = dts(
    "kho-v2", node("memblock", preserved_data=u64(0x2000)) + node("LUO", preserved_data=u64(0x3000))
)
V3_CHILDREN = node("kexec-metadata", preserved_data=u64(0x116BE5000), blob_size=u64(73)) + node(
    "LUO", preserved_data=u64(0x116BE6000), blob_size=u64(4096)
)
V3 = dts("kho-v3", V3_CHILDREN)
V4 = dts("kho-v4", V3_CHILDREN)
COMPOSITE = dts("kho-v4;radix-v1;vmalloc-v1", V3_CHILDREN)
V3_CHILD_TUPLE = (
    KhoChild("kexec-metadata", 0x116BE5000, 73),
    KhoChild("LUO", 0x116BE6000, 4096),
)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            V1,
            KhoRoot(
                KhoCompatible("kho-v1", 1),
                MEMORY_MAP,
                (KhoChild("memblock", 0x80CC16_000), KhoChild("LUO", 0x12345000)),
            ),
            id="kho-v1",
        ),
        pytest.param(
            V2,
            KhoRoot(
                KhoCompatible("kho-v2", 2),
                MEMORY_MAP,
                (KhoChild("memblock", 0x2000), KhoChild("LUO", 0x3000)),
            ),
            id="kho-v2",
        ),
        pytest.param(
            V3, KhoRoot(KhoCompatible("kho-v3", 3), MEMORY_MAP, V3_CHILD_TUPLE), id="kho-v3"
        ),
        pytest.param(
            V4, KhoRoot(KhoCompatible("kho-v4", 4), MEMORY_MAP, V3_CHILD_TUPLE), id="kho-v4"
        ),
        pytest.param(
            COMPOSITE,
            KhoRoot(
                KhoCompatible("kho-v4;radix-v1;vmalloc-v1", 4, ("radix-v1", "vmalloc-v1")),
                MEMORY_MAP,
                V3_CHILD_TUPLE,
            ),
            id="composite",
        ),
        pytest.param(
            dts("kho-v2", node("memblock", preserved_data=u64(0x2000), blob_size=u64(12))),
            KhoRoot(KhoCompatible("kho-v2", 2), MEMORY_MAP, (KhoChild("memblock", 0x2000, 12),)),
            id="kho-v2-pre-merge-with-blob-size",
        ),
    ],
)
def test_dtc_compiled_trees_decode(source: str, expected: KhoRoot, tmp_path: Path) -> None:
    assert parse_root(dtc(source, tmp_path)) == expected


def test_doc_example_value(tmp_path: Path) -> None:
    # Documentation/core-api/kho/fdt.rst shows <0x40be16 0x1000000>: the
    # little-endian u64 0x116be4000 as a decompiler prints it.
    source = dts("kho-v1", "", memory_map="<0x40be16 0x1000000>")
    assert parse_root(dtc(source, tmp_path), "little").memory_map == 0x116BE4000


def test_big_endian_values(tmp_path: Path) -> None:
    source = dts(
        "kho-v3",
        node("x", preserved_data=u64(0x1000, "big"), blob_size=u64(73, "big")),
        memory_map=u64(MEMORY_MAP, "big"),
    )
    root = parse_root(dtc(source, tmp_path), "big")
    assert root.memory_map == MEMORY_MAP
    assert root.children == (KhoChild("x", 0x1000, 73),)


@pytest.mark.parametrize(
    ("source", "error", "message"),
    [
        (
            dts("kho-v3", node("kexec-metadata", preserved_data=u64(0x1000))),
            FdtNodeError,
            "broken KHO subnode 'kexec-metadata': missing or invalid blob-size property",
        ),
        (
            dts("kho-v3", node("LUO", preserved_data="<0x1000>", blob_size=u64(8))),
            FdtNodeError,
            "node LUO prop preserved-data has invalid length: 4",
        ),
        (
            dts("kho-v4", node("LUO", preserved_data=u64(1), blob_size="<8>")),
            FdtNodeError,
            "node LUO prop blob-size has invalid length: 4",
        ),
        (
            dts("kho-v1", node("memblock", preserved_data=u64(0x1000))),
            FdtNodeError,
            "node memblock has no fdt property",
        ),
        (
            dts("kho-v3", "", memory_map="<1>"),
            FdtNodeError,
            "node / prop preserved-memory-map has invalid length: 4",
        ),
        (
            '/dts-v1/;\n/ { compatible = "kho-v3"; };\n',
            FdtNodeError,
            "failed to get preserved memory map: node / has no preserved-memory-map",
        ),
        (
            dts("linux,dummy-virt", ""),
            FdtIncompatible,
            "KHO FDT root compatible 'linux,dummy-virt' names no KHO version (kho-vN)",
        ),
        (
            dts("kho-v4;", ""),
            FdtIncompatible,
            "KHO FDT root compatible 'kho-v4;' names no KHO version (kho-vN)",
        ),
        (
            "/dts-v1/;\n/ { preserved-memory-map = [00 00 00 00 00 00 00 01]; };\n",
            FdtIncompatible,
            "KHO FDT root has no compatible property",
        ),
    ],
)
def test_malformed_trees_name_the_node(
    source: str, error: type[FdtError], message: str, tmp_path: Path
) -> None:
    with pytest.raises(error) as info:
        parse_root(dtc(source, tmp_path))
    assert str(info.value) == message
    if isinstance(info.value, FdtNodeError):
        assert info.value.node in message


def test_compatible_string_list_finds_kho_entry(tmp_path: Path) -> None:
    source = dts('acme,board", "kho-v3', "")
    assert parse_root(dtc(source, tmp_path)).compatible.text == "kho-v3"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "FDT truncated: 0 bytes, header needs 40"),
        (b"\xd0\x0d\xfe\xed" + bytes(36), "FDT header is invalid: FDT_ERR_BADVERSION"),
        (b"\x00" * 64, "FDT header is invalid: FDT_ERR_BADMAGIC"),
    ],
)
def test_bad_header(data: bytes, message: str) -> None:
    with pytest.raises(FdtInvalid) as info:
        parse_root(data)
    assert str(info.value) == message
    assert info.value.code < 0


def test_truncated_container(tmp_path: Path) -> None:
    data = dtc(V3, tmp_path)
    with pytest.raises(FdtInvalid, match=rf"header declares {len(data)} bytes, only 100 present"):
        parse_root(data[:100])


def dump(data: bytes, tmp_path: Path) -> str:
    (tmp_path / "out.dtb").write_bytes(data)
    return run(tool("dtc"), "-q", "-I", "dtb", "-O", "dts", tmp_path / "out.dtb")


@pytest.mark.parametrize(
    "compatible", ["kho-v1", "kho-v2", "kho-v3", "kho-v4", "kho-v4;radix-v1;vmalloc-v1"]
)
def test_written_trees_read_by_dtc(compatible: str, tmp_path: Path) -> None:
    version = KhoCompatible.parse(compatible).version
    children = [KhoChild("kexec-metadata", 0x116BE5000, 73), KhoChild("LUO", 0x116BE6000, 4096)]
    if version < 3:
        children = [KhoChild(c.name, c.address) for c in children]
    data = build_root(compatible, MEMORY_MAP, children, "little")
    text = dump(data, tmp_path)
    assert f'compatible = "{compatible}";' in text
    # dtc shows 8-byte values as two big-endian cells: the little-endian u64s.
    assert "preserved-memory-map = <0x40be16 0x1000000>;" in text
    prop = "fdt" if version == 1 else "preserved-data"
    assert re.search(
        rf"kexec-metadata {{\s+(blob-size = <0x49000000 0x00>;\s+)?{prop} = <0x50be16 0x1000000>;",
        text,
    )
    if version >= 3:
        # libfdt puts each new property first, as in the kernel's tree.
        assert re.search(
            r"kexec-metadata {\s+blob-size = <0x49000000 0x00>;\s+preserved-data", text
        )
    else:
        assert "blob-size" not in text
    # kho_add_subtree() adds each node first: later registrations come first.
    assert text.index("LUO {") < text.index("kexec-metadata {")
    assert parse_root(data, "little") == KhoRoot(
        KhoCompatible.parse(compatible), MEMORY_MAP, tuple(reversed(children))
    )


def test_written_tree_read_by_fdtdump(tmp_path: Path) -> None:
    data = build_root("kho-v3", MEMORY_MAP, [KhoChild("kexec-metadata", 0x116BE5000, 73)], "little")
    (tmp_path / "t.dtb").write_bytes(data)
    text = run(tool("fdtdump"), tmp_path / "t.dtb")
    assert f"// totalsize:\t\t0x{len(data):x} ({len(data)})" in text
    assert 'compatible = "kho-v3";' in text
    assert "kexec-metadata {" in text
    assert "blob-size = <0x49000000 0x00000000>;" in text


@pytest.mark.parametrize(
    ("compatible", "children", "message"),
    [
        ("kho-v3", [KhoChild("a", 1)], "child a needs a size in kho-v3"),
        ("v3", [], "compatible 'v3' is not a KHO version (kho-vN[;part...])"),
        ("kho-v3", [KhoChild("a", -1, 1)], "a -0x1 does not fit in a u64"),
        (
            "kho-v3",
            [KhoChild("a", 1, 1), KhoChild("a", 2, 1)],
            "cannot build KHO FDT: FDT_ERR_EXISTS",
        ),
        (
            "kho-v3",
            [KhoChild(f"n{i}", i, i) for i in range(200)],
            "cannot build KHO FDT: FDT_ERR_NOSPACE",
        ),
    ],
)
def test_build_rejects(compatible: str, children: list[KhoChild], message: str) -> None:
    with pytest.raises(EncodeError) as info:
        build_root(compatible, MEMORY_MAP, children)
    assert str(info.value) == message


names = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+-"),
    min_size=1,
    max_size=31,
)
u64s = st.integers(0, (1 << 64) - 1)
compatibles = st.builds(
    lambda v, parts: ";".join([f"kho-v{v}", *parts]),
    st.integers(1, 99),
    st.lists(st.sampled_from(["radix-v1", "vmalloc-v1", "block-v2"]), max_size=3),
)


@given(
    compatible=compatibles,
    memory_map=u64s,
    children=st.lists(st.tuples(names, u64s, u64s), max_size=12, unique_by=lambda c: c[0]),
    order=st.sampled_from(["little", "big"]),
)
def test_round_trip(
    compatible: str, memory_map: int, children: list[tuple[str, int, int]], order: str
) -> None:
    kho = KhoCompatible.parse(compatible)
    built = [KhoChild(n, a, s if kho.version >= 2 else None) for n, a, s in children]
    data = build_root(compatible, memory_map, built, order)  # type: ignore[arg-type]
    root = parse_root(data, order)  # type: ignore[arg-type]
    assert root == KhoRoot(kho, memory_map, tuple(reversed(built)))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    tmp = tmp_path_factory.mktemp("seeds")
    return [dtc(s, tmp) for s in (V1, V2, V3, V4, COMPOSITE)] + [
        build_root("kho-v3", MEMORY_MAP, V3_CHILD_TUPLE)
    ]


def parse_only_typed_errors(data: bytes) -> None:
    with contextlib.suppress(FdtError):
        parse_root(data)


@settings(max_examples=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_trees_give_only_typed_errors(seeds: list[bytes], data: st.DataObject) -> None:
    tree = bytearray(data.draw(st.sampled_from(seeds)))
    for _ in range(data.draw(st.integers(1, 8))):
        offset = data.draw(st.integers(0, len(tree) - 1))
        tree[offset] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(tree)))
    parse_only_typed_errors(bytes(tree[: cut or len(tree)]))


@settings(max_examples=3000)
@given(st.binary(max_size=512))
def test_random_bytes_give_only_typed_errors(data: bytes) -> None:
    parse_only_typed_errors(b"\xd0\x0d\xfe\xed" + data)
    parse_only_typed_errors(data)
