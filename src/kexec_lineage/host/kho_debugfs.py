"""
KHO debugfs
-----------

``/sys/kernel/debug/kho/`` as a kernel with ``CONFIG_KEXEC_HANDOVER_DEBUGFS``
exposes it (``kernel/liveupdate/kexec_handover_debugfs.c``)::

    kho/in/fdt                incoming root FDT (only after a KHO boot)
    kho/in/sub_fdts/<name>    one file per incoming child, blob-size bytes
    kho/out/fdt               outgoing root FDT (only after a cold boot)
    kho/out/sub_fdts/<name>   one file per kho_add_subtree()
    kho/out/scratch_phys, scratch_len

The directory keeps the name ``sub_fdts`` although since Linux 7.1 its files
may be any blob, such as the 73-byte ``kexec-metadata``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kexec_lineage.errors import InputError
from kexec_lineage.host.files import read_bytes

__all__ = ("DEBUGFS_KHO", "KhoDir", "read_kho_dir")

#: Where KHO's debugfs lives, relative to the system root.
DEBUGFS_KHO = Path("sys/kernel/debug/kho")


@dataclass(frozen=True, slots=True)
class KhoDir:
    """The files of one ``kho/in`` or ``kho/out`` directory."""

    path: Path
    fdt: bytes | None
    blobs: dict[str, bytes] = field(default_factory=dict)


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
    return KhoDir(path, fdt, blobs)
