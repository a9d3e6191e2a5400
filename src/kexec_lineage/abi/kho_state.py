"""
KHO state
---------

What a KHO debugfs directory, a root FDT or a lone blob says once decoded
together: the tree, the blobs beside it, and the kexec-metadata record. Pure;
the files are read by :mod:`kexec_lineage.host.kho_debugfs`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kexec_lineage.abi import kexec_metadata
from kexec_lineage.abi.kexec_metadata import ByteOrder
from kexec_lineage.model.handover import Handover
from kexec_lineage.model.text import printable

if TYPE_CHECKING:
    from kexec_lineage.abi.kho_fdt import KhoRoot

__all__ = ("KhoState", "decode_state", "looks_like_fdt")

_FDT_MAGIC = b"\xd0\x0d\xfe\xed"


def looks_like_fdt(data: bytes) -> bool:
    """Whether ``data`` starts with the (big-endian) FDT magic number."""
    return data[:4] == _FDT_MAGIC


@dataclass(frozen=True, slots=True)
class KhoState:
    """Decoded KHO state. Any part may be missing: ``kho/out`` after a KHO
    boot has no ``fdt``, and a root FDT alone holds no blob contents."""

    root: KhoRoot | None
    handover: Handover | None
    blob_sizes: Mapping[str, int] = field(default_factory=dict)
    byteorder: ByteOrder = sys.byteorder

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; the metadata keys are ``None`` where there is no blob."""
        out: dict[str, Any] = {
            "version": self.handover.version if self.handover else None,
            "previous_release": printable(self.handover.previous_release)
            if self.handover
            else None,
            "kexec_count": self.handover.kexec_count if self.handover else None,
            "kernel_line": self.handover.kernel_line if self.handover else None,
            "byte_order": self.byteorder,
        }
        if self.root is not None:
            out |= {
                "compatible": self.root.compatible.text,
                "kho_version": self.root.compatible.version,
                "components": list(self.root.compatible.components),
                "preserved_memory_map": self.root.memory_map,
                "children": [
                    {
                        "name": child.name,
                        "address": child.address,
                        "size": child.size,
                        "blob_size": self.blob_sizes.get(child.name),
                    }
                    for child in self.root.children
                ],
            }
        if self.blob_sizes:
            out["blobs"] = dict(self.blob_sizes)
        return out


def decode_state(
    fdt: bytes | None,
    blobs: Mapping[str, bytes],
    byteorder: ByteOrder = sys.byteorder,
) -> KhoState:
    """Decode a root FDT (if any) and the blobs beside it.

    The ``kexec-metadata`` blob is decoded as the kernel would decode it; its
    length stands for ``blob-size``, as in debugfs.

    :raises AbiError: the FDT or the kexec-metadata blob is malformed.
    """
    root = None
    if fdt is not None:
        from kexec_lineage.abi.kho_fdt import parse_root

        root = parse_root(fdt, byteorder)
    blob = blobs.get(kexec_metadata.NODE_NAME)
    handover = kexec_metadata.decode(blob, byteorder) if blob is not None else None
    return KhoState(root, handover, {name: len(data) for name, data in blobs.items()}, byteorder)
