"""
kexec-metadata
--------------

Byte-exact codec for ``struct kho_kexec_metadata`` (Linux 7.1,
``include/linux/kho/abi/kexec_metadata.h``)::

    struct kho_kexec_metadata {
            u32 version;                          /* offset 0 */
            char previous_release[__NEW_UTS_LEN + 1]; /* offset 4, 65 bytes */
            u32 kexec_count;                      /* offset 69 */
    } __packed;                                   /* sizeof 73 */

The kernel writes and reads the fields in CPU byte order with no swapping, so
a blob carries the byte order of the host that wrote it. Decoding follows
``kho_in_kexec_metadata()`` check for check; only the standard library is
used, because the host agent imports this at boot.
"""

from __future__ import annotations

import struct
import sys
from typing import Literal

from kexec_lineage.errors import (
    EncodeError,
    MetadataTooSmall,
    MetadataTruncated,
    MetadataVersionError,
)
from kexec_lineage.model.handover import Handover
from kexec_lineage.model.text import from_kernel, to_kernel

__all__ = (
    "METADATA_SIZE",
    "METADATA_VERSION",
    "NODE_NAME",
    "RELEASE_FIELD_SIZE",
    "ByteOrder",
    "decode",
    "encode",
    "strscpy_release",
)

ByteOrder = Literal["little", "big"]

#: ``KHO_KEXEC_METADATA_VERSION``: the only version any kernel has written.
METADATA_VERSION = 1
#: ``__NEW_UTS_LEN + 1``.
RELEASE_FIELD_SIZE = 65
#: ``sizeof(struct kho_kexec_metadata)``.
METADATA_SIZE = 4 + RELEASE_FIELD_SIZE + 4
#: ``KHO_METADATA_NODE_NAME``: the KHO child node and debugfs file name.
NODE_NAME = "kexec-metadata"

_STRUCTS = {
    "little": struct.Struct(f"<I{RELEASE_FIELD_SIZE}sI"),
    "big": struct.Struct(f">I{RELEASE_FIELD_SIZE}sI"),
}
_VERSION = {"little": struct.Struct("<I"), "big": struct.Struct(">I")}
_U32_MAX = 0xFFFF_FFFF


def strscpy_release(field: bytes) -> bytes:
    """The release bytes ``strscpy(dst, src, 65)`` copies out of the field.

    Up to the first NUL; with no NUL in the field, the first 64 bytes (strscpy
    always terminates, and the kernel ignores its ``-E2BIG``).
    """
    end = field.find(b"\0")
    return field[: RELEASE_FIELD_SIZE - 1] if end < 0 else field[:end]


def decode(blob: bytes, byteorder: ByteOrder = sys.byteorder) -> Handover:
    """Read ``blob`` (bytes of ``struct kho_kexec_metadata``) as the kernel does.

    :param blob: the blob, e.g. ``/sys/kernel/debug/kho/in/sub_fdts/kexec-metadata``;
        its length plays the part of the ``blob-size`` property.
    :param byteorder: the byte order of the host that wrote it.
    :raises MetadataTooSmall: fewer than 4 bytes.
    :raises MetadataVersionError: ``version`` is not 1.
    :raises MetadataTruncated: fewer than 73 bytes. Longer blobs are accepted
        and the bytes past 73 ignored, as in the kernel.
    """
    size = len(blob)
    if size < 4:
        raise MetadataTooSmall(size)
    (version,) = _VERSION[byteorder].unpack_from(blob)
    if version != METADATA_VERSION:
        raise MetadataVersionError(version, METADATA_VERSION)
    if size < METADATA_SIZE:
        raise MetadataTruncated(version, size, METADATA_SIZE)
    _, release, count = _STRUCTS[byteorder].unpack_from(blob)
    return Handover(
        previous_release=from_kernel(strscpy_release(release)),
        kexec_count=count,
        version=version,
    )


def encode(handover: Handover, byteorder: ByteOrder = sys.byteorder) -> bytes:
    """The 73 bytes a kernel writes for ``handover`` (unused release bytes zero).

    :raises EncodeError: a release of more than 64 bytes or holding a NUL (no
        kernel can write it), or a field outside u32.
    """
    release = to_kernel(handover.previous_release)
    if b"\0" in release:
        raise EncodeError("release must not contain a NUL byte")
    if len(release) >= RELEASE_FIELD_SIZE:
        raise EncodeError(
            f"release is {len(release)} bytes; the ABI holds at most {RELEASE_FIELD_SIZE - 1}"
        )
    for name, value in (("version", handover.version), ("kexec_count", handover.kexec_count)):
        if not 0 <= value <= _U32_MAX:
            raise EncodeError(f"{name} {value} does not fit in a u32")
    return _STRUCTS[byteorder].pack(handover.version, release, handover.kexec_count)
