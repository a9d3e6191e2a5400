"""The model of what a booting kernel does with incoming KHO state."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kexec_lineage.abi import kexec_metadata
from kexec_lineage.abi.kho_boot import Kernel, KhoImage, boot, kexec_chain
from kexec_lineage.abi.kho_fdt import KhoChild, build_root
from kexec_lineage.model.handover import Handover

FDT_PHYS = 0x1_16BE_3000
META = 0x2000
MEMORY_MAP = 0x1000


def handoff(
    compatible: str = "kho-v3",
    blob: bytes | None = None,
    size: int | None = 73,
    memory_map: int = MEMORY_MAP,
    children: tuple[KhoChild, ...] | None = None,
) -> KhoImage:
    """State a kernel left behind, with a kexec-metadata blob at META."""
    blob = kexec_metadata.encode(Handover("7.1.0", 4)) if blob is None else blob
    if children is None:
        children = (KhoChild("kexec-metadata", META, size),)
    return KhoImage(build_root(compatible, memory_map, children), {META: blob}, FDT_PHYS)


def test_cold_boot_prints_nothing_and_hands_on_one() -> None:
    result = boot(Kernel("7.1.0"), None)
    assert result.lines == ()
    assert result.received is None
    assert result.handed_on == Handover("7.1.0", 1)


def test_kexec_counts_up() -> None:
    result = boot(Kernel("7.1.2"), handoff())
    assert result.lines == (
        "KHO: found kexec handover data.",
        "KHO: exec from: 7.1.0 (count 4)",
    )
    assert result.received == Handover("7.1.0", 4)
    assert result.handed_on == Handover("7.1.2", 5)


def test_handoff_carries_metadata_to_next_kernel() -> None:
    first, second, third = kexec_chain([Kernel("7.1.0"), Kernel("7.1.2"), Kernel("7.1.3")])
    assert first.lines == ()
    assert second.lines[-1] == "KHO: exec from: 7.1.0 (count 1)"
    assert third.lines[-1] == "KHO: exec from: 7.1.2 (count 2)"
    assert third.handed_on == Handover("7.1.3", 3)
    assert third.image is not None
    page = third.image.memory
    assert list(page.values()) == [kexec_metadata.encode(Handover("7.1.3", 3))]


def test_abi_change_resets_the_count() -> None:
    result = boot(Kernel("7.2.0", "kho-v4"), handoff("kho-v3"))
    assert result.lines == (
        f"KHO: setup: handover FDT ({FDT_PHYS:#x}) is incompatible with 'kho-v4': 1",
        "KHO: disabling KHO revival",
    )
    assert result.received is None
    assert result.handed_on == Handover("7.2.0", 1)


def test_composite_compatible_must_match_exactly() -> None:
    kernel = Kernel("7.3.0", "kho-v4;radix-v1;vmalloc-v1")
    assert boot(kernel, handoff("kho-v4;radix-v1;vmalloc-v1")).received == Handover("7.1.0", 4)
    assert boot(kernel, handoff("kho-v4")).handed_on == Handover("7.3.0", 1)
    assert boot(Kernel("7.2.0", "kho-v4"), handoff("kho-v4;radix-v1")).handed_on == Handover(
        "7.2.0", 1
    )


def test_invalid_fdt() -> None:
    result = boot(Kernel("7.1.0"), KhoImage(b"\0" * 64, {}, FDT_PHYS))
    assert result.lines == (
        f"KHO: setup: handover FDT ({FDT_PHYS:#x}) is invalid: -9",
        "KHO: disabling KHO revival",
    )
    assert result.handed_on == Handover("7.1.0", 1)


def test_memory_map_missing_or_zero() -> None:
    fdt = build_root("kho-v3", MEMORY_MAP, [KhoChild("kexec-metadata", META, 73)])
    assert boot(Kernel("7.1.0"), handoff(memory_map=0)).lines == ("KHO: disabling KHO revival",)
    # A tree without the property: rebuild one by hand through libfdt.
    import libfdt

    tree = libfdt.Fdt(fdt)
    tree.delprop(0, "preserved-memory-map")
    tree.pack()
    result = boot(Kernel("7.1.0"), KhoImage(bytes(tree.as_bytearray()), {}, FDT_PHYS))
    assert result.lines == (
        "KHO: failed to get preserved memory map",
        "KHO: disabling KHO revival",
    )


@pytest.mark.parametrize(
    ("blob", "size", "warning"),
    [
        (
            struct.pack("<I", 2) + bytes(69),
            73,
            "KHO: kexec-metadata version 2 not supported (expected 1)",
        ),
        (b"\1\0\0", 3, "KHO: kexec-metadata blob too small (3 bytes)"),
        (
            struct.pack("<I", 1) + bytes(6),
            10,
            "KHO: kexec-metadata blob too small for v1 (10 < 73)",
        ),
    ],
)
def test_rejected_metadata_warns_and_resets(blob: bytes, size: int, warning: str) -> None:
    result = boot(Kernel("7.1.2"), handoff(blob=blob, size=size))
    assert result.lines == ("KHO: found kexec handover data.", warning)
    assert result.handed_on == Handover("7.1.2", 1)


def test_page_sized_blob_accepted() -> None:
    result = boot(Kernel("7.1.2"), handoff(size=4096))
    assert result.received == Handover("7.1.0", 4)


def test_missing_blob_size_warns_twice() -> None:
    tree = handoff(children=(KhoChild("kexec-metadata", META, 73),))
    import libfdt

    fdt = libfdt.Fdt(tree.fdt)
    fdt.delprop(fdt.subnode_offset(0, "kexec-metadata"), "blob-size")
    fdt.pack()
    result = boot(Kernel("7.1.2"), KhoImage(bytes(fdt.as_bytearray()), tree.memory, FDT_PHYS))
    assert result.lines == (
        "KHO: found kexec handover data.",
        "KHO: broken KHO subnode 'kexec-metadata': missing or invalid blob-size property",
        "KHO: node kexec-metadata missing or invalid blob-size property",
    )
    assert result.handed_on == Handover("7.1.2", 1)


def test_previous_kernel_without_metadata() -> None:
    # A kho-v3 kernel built without the feature: the node is simply absent.
    first, second = kexec_chain([Kernel("7.1.0", metadata=False), Kernel("7.1.2")])
    assert first.handed_on is None
    assert second.lines == ("KHO: found kexec handover data.",)
    assert second.handed_on == Handover("7.1.2", 1)


def test_kernel_before_metadata_hands_on_nothing() -> None:
    first, second = kexec_chain([Kernel("6.19.0", "kho-v2"), Kernel("6.19.1", "kho-v2")])
    assert first.handed_on is None
    assert second.lines == ("KHO: found kexec handover data.",)
    assert second.handed_on is None


def test_kernel_without_kho() -> None:
    result = boot(Kernel("6.12.95", None), handoff())
    assert result == type(result)((), None, None, None)
    assert kexec_chain([Kernel("7.1.0"), Kernel("6.12.95", None), Kernel("7.1.2")])[2].lines == ()


def test_kexec_load_carries_nothing() -> None:
    boots = kexec_chain([Kernel("7.1.0"), Kernel("7.1.2")], file_load=False)
    assert boots[1].lines == ()
    assert boots[1].handed_on == Handover("7.1.2", 1)


def test_crash_kernel() -> None:
    result = boot(Kernel("7.1.0"), handoff(), crash_kernel=True)
    assert result.lines == ("KHO: disabled in the kdump kernel",)
    assert result.image is None


def test_count_wraps_like_u32() -> None:
    result = boot(
        Kernel("7.1.2"), handoff(blob=kexec_metadata.encode(Handover("7.1.0", 0xFFFF_FFFF)))
    )
    assert result.lines[-1] == "KHO: exec from: 7.1.0 (count 4294967295)"
    assert result.handed_on == Handover("7.1.2", 0)


def test_long_release_cut_to_64() -> None:
    result = boot(Kernel("7." + "x" * 80), None)
    assert result.handed_on is not None
    assert result.handed_on.previous_release == "7." + "x" * 62


def test_big_endian_chain() -> None:
    state = boot(Kernel("7.1.0"), None, byteorder="big").image
    assert state is not None and state.byteorder == "big"
    assert boot(Kernel("7.1.2"), state, byteorder="big").received == Handover("7.1.0", 1)


@settings(max_examples=2000)
@given(
    fdt=st.binary(max_size=300),
    blob=st.binary(max_size=100),
    kho=st.sampled_from(["kho-v1", "kho-v2", "kho-v3", "kho-v4", "kho-v4;radix-v1"]),
)
def test_arbitrary_incoming_state_never_raises(fdt: bytes, blob: bytes, kho: str) -> None:
    result = boot(Kernel("7.1.0", kho), KhoImage(b"\xd0\x0d\xfe\xed" + fdt, {META: blob}))
    assert result.lines[-1].startswith("KHO: ")


@settings(max_examples=2000)
@given(st.data())
def test_mutated_incoming_tree_never_raises(data: st.DataObject) -> None:
    state = handoff()
    tree = bytearray(state.fdt)
    for _ in range(data.draw(st.integers(1, 6))):
        tree[data.draw(st.integers(0, len(tree) - 1))] = data.draw(st.integers(0, 255))
    result = boot(Kernel("7.1.2"), KhoImage(bytes(tree), state.memory, FDT_PHYS))
    assert result.handed_on is not None
    assert result.handed_on.kexec_count in (1, 5)
