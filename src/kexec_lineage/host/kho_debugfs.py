"""
KHO debugfs
-----------

``/sys/kernel/debug/kho/`` as a kernel with ``CONFIG_KEXEC_HANDOVER_DEBUGFS``
exposes it (``kernel/liveupdate/kexec_handover_debugfs.c``)::

    kho/in/fdt                incoming root FDT (only after a KHO boot)
    kho/in/sub_fdts/<name>    one file per incoming child, blob-size bytes
    kho/out/fdt               outgoing root FDT (only after a cold boot)
    kho/out/sub_fdts/<name>   one file per kho_add_subtree()
    kho/out/scratch_phys, scratch_len   one "0x%llx" line per region
    kho/out/bootmem_phys, bootmem_len   the same since Linux 7.4

The directory keeps the name ``sub_fdts`` although since Linux 7.1 its files
may be any blob, such as the 73-byte ``kexec-metadata``. Linux 7.4 ("kho:
rename KHO scratch to KHO bootmem") renamed the scratch files (and the
``kho_scratch=`` parameter, now ``kho_bootmem=``); both names are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kexec_lineage.abi.cmdline import kho_param
from kexec_lineage.errors import InputError
from kexec_lineage.host.files import read_bytes

__all__ = ("DEBUGFS_KHO", "KhoDir", "KhoMemory", "kho_active", "read_kho_dir")

#: Where KHO's debugfs lives, relative to the system root.
DEBUGFS_KHO = Path("sys/kernel/debug/kho")
DEBUGFS = DEBUGFS_KHO.parent
#: The names of the memory KHO keeps for the next kernel: until 7.3, since 7.4.
MEMORY_NAMES = ("scratch", "bootmem")
_HEX = re.compile(rb"0x[0-9a-fA-F]{1,16}")


@dataclass(frozen=True, slots=True)
class KhoMemory:
    """The regions KHO reserves for the next kernel's early allocations."""

    #: the kernel's name for them: ``scratch`` (until 7.3) or ``bootmem`` (since 7.4)
    name: str
    #: ``(physical address, length)`` of each region
    regions: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class KhoDir:
    """The files of one ``kho/in`` or ``kho/out`` directory."""

    path: Path
    fdt: bytes | None
    blobs: dict[str, bytes] = field(default_factory=dict)
    memory: KhoMemory | None = None
    #: files that could not be made sense of; the rest was read all the same
    problems: tuple[str, ...] = ()


def _hex_lines(path: Path) -> list[int]:
    """The ``0x%llx`` lines of a scratch/bootmem file."""
    words = read_bytes(path).split()
    if not all(_HEX.fullmatch(word) for word in words):
        raise InputError(f"{path}: not one hexadecimal number per line")
    return [int(word, 16) for word in words]


def _memory(path: Path) -> KhoMemory | None:
    """:raises InputError: a region file that is not the kernel's ``0x%llx`` lines."""
    for name in MEMORY_NAMES:
        phys, length = path / f"{name}_phys", path / f"{name}_len"
        if phys.is_file() and length.is_file():
            starts, sizes = _hex_lines(phys), _hex_lines(length)
            if len(starts) != len(sizes):
                raise InputError(
                    f"{path}: {len(starts)} {phys.name} but {len(sizes)} {length.name}"
                )
            return KhoMemory(name, tuple(zip(starts, sizes, strict=True)))
    return None


def kho_active(root: Path, cmdline: str | None) -> tuple[bool, str]:
    """Whether the running kernel has KHO on, and what says so.

    ``kho/out`` is the kernel's own word: ``kho_init()`` creates it when KHO
    is enabled. Without it (debugfs not mounted or not readable, or a kernel
    without ``CONFIG_KEXEC_HANDOVER_DEBUGFS``) the command line's ``kho=``
    decides; a kernel built with ``CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT`` and
    no ``kho=`` then goes unnoticed.
    """
    out = root / DEBUGFS_KHO / "out"
    try:
        if out.is_dir():
            return True, f"/{DEBUGFS_KHO}/out exists"
        seen = f"no /{DEBUGFS_KHO}/out"
    except OSError as exc:  # /sys/kernel/debug is 0700: not root
        seen = f"/{DEBUGFS} unreadable ({exc.strerror or exc})"
    enabled = kho_param(cmdline or "")
    if enabled is None:
        return False, f"{seen}, no kho= on the command line"
    return enabled, f"{seen}, kho={'on' if enabled else 'off'} on the command line"


def read_kho_dir(path: Path) -> KhoDir:
    """Read ``path`` (a ``kho/in`` or ``kho/out`` directory).

    :raises InputError: ``path`` holds neither ``fdt`` nor ``sub_fdts/``, or a
        file in it cannot be read.
    """
    fdt_path, sub = path / "fdt", path / "sub_fdts"
    if not fdt_path.is_file() and not sub.is_dir():
        hint = ""
        if (path / "in").is_dir() or (path / "out").is_dir():
            hint = f"; did you mean {path / 'in'} or {path / 'out'}?"
        raise InputError(f"{path}: not a KHO debugfs directory (no fdt, no sub_fdts/){hint}")
    fdt = read_bytes(fdt_path) if fdt_path.is_file() else None
    blobs = {}
    if sub.is_dir():
        try:
            entries = sorted(sub.iterdir())
        except OSError as exc:
            raise InputError(f"cannot list {sub}: {exc.strerror or exc}") from None
        blobs = {entry.name: read_bytes(entry) for entry in entries if entry.is_file()}
    try:  # the regions only inform: a bad file of them spoils nothing else
        return KhoDir(path, fdt, blobs, _memory(path))
    except InputError as exc:
        return KhoDir(path, fdt, blobs, None, (str(exc),))
