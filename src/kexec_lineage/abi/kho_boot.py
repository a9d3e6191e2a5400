"""
KHO at boot
-----------

A model of what a booting kernel does with the Kexec HandOver state it finds:
``kho_populate()`` (validates the incoming root FDT), ``kho_init()`` with
``kho_kexec_metadata_init()`` (reads the incoming ``kexec-metadata``, writes the
outgoing one) and ``kho_in_debugfs_init()`` (exposes the incoming blobs), all in
``kernel/liveupdate/``. It returns the ``KHO:`` lines the kernel logs and the
state it leaves for the next kexec. The fleet simulator and the host tests build
kexec chains from it; every check runs through libfdt, as in the kernel.

The state travels only with ``kexec_file_load`` (``kexec -s``): KHO adds its
FDT in ``kho_fill_kimage()``. A kexec through ``kexec_load``, a cold boot and a
kernel without KHO all reach the next kernel as ``incoming=None``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kexec_lineage.abi import kexec_metadata
from kexec_lineage.abi.kexec_metadata import ByteOrder
from kexec_lineage.abi.kho_fdt import (
    BLOB_SIZE_PROP,
    MEMORY_MAP_PROP,
    PRESERVED_DATA_PROP,
    FdtView,
    KhoChild,
    KhoCompatible,
    broken_subnode,
    build_root,
    invalid_length,
    u64_value,
)
from kexec_lineage.errors import FdtInvalid, MetadataError
from kexec_lineage.model.handover import Handover
from kexec_lineage.model.text import from_kernel, to_kernel

__all__ = ("Kernel", "KhoBoot", "KhoImage", "boot", "kexec_chain", "read_metadata")

_U32_MASK = 0xFFFF_FFFF
# Physical addresses for the state a modelled kernel leaves behind; any
# non-zero, page-aligned values do.
_FDT_PHYS = 0x1_16BE_3000
_MEMORY_MAP_PHYS = 0x1_16BE_4000
_METADATA_PHYS = 0x1_16BE_5000


@dataclass(frozen=True, slots=True)
class Kernel:
    """A kernel as KHO sees it.

    :param release: its ``uname -r``.
    :param kho: its ``KHO_FDT_COMPATIBLE``; ``None`` for a kernel without KHO
        or booted with ``kho=off``.
    :param metadata: whether it has kexec-metadata; by default, KHO kernels of
        kho-v3 and later (the feature came with kho-v3 in Linux 7.1).
    :param debugfs: whether it has ``CONFIG_KEXEC_HANDOVER_DEBUGFS``.
    """

    release: str
    kho: str | None = "kho-v3"
    metadata: bool | None = None
    debugfs: bool = True

    @property
    def has_metadata(self) -> bool:
        if self.kho is None:
            return False
        if self.metadata is not None:
            return self.metadata
        return KhoCompatible.parse(self.kho).requires_blob_size


@dataclass(frozen=True, slots=True)
class KhoImage:
    """The KHO image a kernel leaves in memory when it kexecs: the root FDT and the blobs
    its nodes point at (what :class:`~kexec_lineage.model.handover.Handover` travels in)."""

    fdt: bytes
    memory: Mapping[int, bytes] = field(default_factory=dict)
    fdt_phys: int = _FDT_PHYS
    byteorder: ByteOrder = sys.byteorder

    def read(self, address: int, size: int) -> bytes:
        """``size`` bytes at ``address``; memory not given reads as zero, like a zeroed page."""
        data = self.memory.get(address, b"")[:size]
        return data + bytes(size - len(data))


@dataclass(frozen=True, slots=True)
class KhoBoot:
    """What one boot did with KHO."""

    #: ``KHO: ...`` lines in the order the kernel logs them.
    lines: tuple[str, ...]
    #: the incoming record it accepted (``None``: cold-boot behaviour).
    received: Handover | None
    #: the record it hands on (``None``: no kexec-metadata in this kernel).
    handed_on: Handover | None
    #: the state a ``kexec -s`` from this kernel passes on.
    image: KhoImage | None


def read_metadata(view: FdtView, state: KhoImage) -> tuple[tuple[str, ...], Handover | None]:
    """``kho_in_kexec_metadata()``: the lines it logs and the record it accepts."""
    name = kexec_metadata.NODE_NAME
    node = view.subnode(name)
    if node is None:
        return (), None  # the previous kernel exported no metadata
    address = u64_value(view.getprop(node, PRESERVED_DATA_PROP), state.byteorder)
    if address is None:
        return (), None
    blob_size = u64_value(view.getprop(node, BLOB_SIZE_PROP), state.byteorder)
    if blob_size is None:
        return (f"KHO: {broken_subnode(name)}",), None
    # Bytes past the struct never matter, so a huge blob-size reads only the struct.
    blob = state.read(address, min(blob_size, kexec_metadata.METADATA_SIZE))
    try:
        handover = kexec_metadata.decode(blob, state.byteorder)
    except MetadataError as exc:
        return (f"KHO: {exc}",), None
    return (handover.kernel_line,), handover


def _populate(kernel_kho: str, state: KhoImage) -> tuple[list[str], FdtView | None]:
    # kho_populate(): the early checks that decide between a KHO boot and
    # "disabling KHO revival" (cold-boot behaviour).
    lines: list[str] = []
    view: FdtView | None = None
    try:
        view = FdtView(state.fdt)
    except FdtInvalid as exc:
        lines.append(f"KHO: setup: handover FDT ({state.fdt_phys:#x}) is invalid: {exc.code}")
    if view is not None and (rc := view.check_compatible(kernel_kho)):
        lines.append(
            f"KHO: setup: handover FDT ({state.fdt_phys:#x}) is incompatible with "
            f"'{kernel_kho}': {rc}"
        )
        view = None
    if view is not None:
        memory_map = view.getprop(0, MEMORY_MAP_PROP)
        if memory_map is None or len(memory_map) != 8:
            lines.append("KHO: failed to get preserved memory map")
            view = None
        elif not any(memory_map):
            view = None
    lines.append("KHO: found kexec handover data." if view else "KHO: disabling KHO revival")
    return lines, view


def _debugfs_warnings(view: FdtView) -> list[str]:
    # kho_in_debugfs_init(): children it cannot expose under in/sub_fdts/.
    lines = []
    for node, utf8_name in view.children():
        name = utf8_name or "<name not UTF-8>"
        phys = view.getprop(node, PRESERVED_DATA_PROP)
        if phys is None:
            continue
        if len(phys) != 8:
            lines.append(f"KHO: {invalid_length(name, PRESERVED_DATA_PROP, len(phys))}")
            continue
        if u64_value(view.getprop(node, BLOB_SIZE_PROP)) is None:
            lines.append(f"KHO: node {name} missing or invalid {BLOB_SIZE_PROP} property")
    return lines


def boot(
    kernel: Kernel,
    incoming: KhoImage | None,
    *,
    crash_kernel: bool = False,
    byteorder: ByteOrder = sys.byteorder,
) -> KhoBoot:
    """Boot ``kernel`` with ``incoming`` KHO state (``None``: cold boot).

    :param crash_kernel: a kdump capture kernel, in which KHO disables itself
        (``disabled in the kdump kernel``, in linux-mm's kexec_handover.c).
    :param byteorder: byte order of this kernel's CPU, for what it hands on.
    """
    if kernel.kho is None:
        return KhoBoot((), None, None, None)
    if crash_kernel:
        return KhoBoot(("KHO: disabled in the kdump kernel",), None, None, None)
    lines: list[str] = []
    view = None
    if incoming is not None:
        lines, view = _populate(kernel.kho, incoming)
    received = handed_on = None
    children: list[KhoChild] = []
    memory: dict[int, bytes] = {}
    if kernel.has_metadata:
        if view is not None and incoming is not None:
            metadata_lines, received = read_metadata(view, incoming)
            lines.extend(metadata_lines)
        count = (received.kexec_count + 1) & _U32_MASK if received else 1
        release = to_kernel(kernel.release)[: kexec_metadata.RELEASE_FIELD_SIZE - 1]
        handed_on = Handover(from_kernel(release), count)
        memory[_METADATA_PHYS] = kexec_metadata.encode(handed_on, byteorder)
        children.append(
            KhoChild(kexec_metadata.NODE_NAME, _METADATA_PHYS, kexec_metadata.METADATA_SIZE)
        )
        if view is not None and kernel.debugfs:
            lines.extend(_debugfs_warnings(view))
    fdt = build_root(kernel.kho, _MEMORY_MAP_PHYS, children, byteorder)
    return KhoBoot(tuple(lines), received, handed_on, KhoImage(fdt, memory, byteorder=byteorder))


def kexec_chain(kernels: Iterable[Kernel], *, file_load: bool = True) -> list[KhoBoot]:
    """Cold-boot the first kernel, then kexec each next one from the one before.

    :param file_load: kexec with ``kexec_file_load`` (``kexec -s``), which
        carries KHO state; with ``kexec_load`` every boot looks cold to KHO.
    """
    boots: list[KhoBoot] = []
    state: KhoImage | None = None
    for kernel in kernels:
        boots.append(result := boot(kernel, state))
        state = result.image if file_load else None
    return boots
