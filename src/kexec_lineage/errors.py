"""
Errors
------

Every failure the project expects is one of these. The CLI prints a
``LineageError`` as one line on stderr and exits with status 2; anything else
is a bug and keeps its traceback.

::

    LineageError
     ├─ InputError                      unusable path, file or argument
     ├─ LogError                        a log that cannot be read as its format
     ├─ StoreError                      the fleet database refused or failed
     └─ AbiError                        bytes that do not follow a kernel ABI
         ├─ MetadataError               struct kho_kexec_metadata rejected
         │   ├─ MetadataTooSmall        fewer than 4 bytes
         │   ├─ MetadataVersionError    version != 1
         │   └─ MetadataTruncated       version 1, fewer than 73 bytes
         ├─ EncodeError                 a value that does not fit the ABI
         └─ FdtError                    KHO root FDT rejected
             ├─ FdtInvalid              libfdt refuses the container
             ├─ FdtIncompatible         root compatible is not a KHO version
             └─ FdtNodeError            a node's property is missing or malformed

The metadata errors carry the kernel's own wording (``kho_in_kexec_metadata()``
in ``kernel/liveupdate/kexec_handover.c``), without the ``KHO:`` prefix, so a
message can be compared with a line from a real boot log.
"""

from __future__ import annotations

__all__ = (
    "AbiError",
    "EncodeError",
    "FdtError",
    "FdtIncompatible",
    "FdtInvalid",
    "FdtNodeError",
    "InputError",
    "LineageError",
    "LogError",
    "MetadataError",
    "MetadataTooSmall",
    "MetadataTruncated",
    "MetadataVersionError",
    "StoreError",
)


class LineageError(Exception):
    """Base of every expected failure; catch this at the edges."""


class InputError(LineageError):
    """A path, file or argument that cannot be used."""


class LogError(LineageError):
    """A log that cannot be read as the format it claims (a pstore record
    without header, a compressed record that does not decompress)."""


class StoreError(LineageError):
    """The fleet database cannot be reached, migrated, read or written."""


class AbiError(LineageError):
    """Bytes that do not follow the kernel ABI they claim to."""


class EncodeError(AbiError):
    """A value that the ABI cannot represent (too long, out of range)."""


class MetadataError(AbiError):
    """The incoming kernel would reject this ``struct kho_kexec_metadata``."""


class MetadataTooSmall(MetadataError):
    """Fewer bytes than the ``version`` field."""

    def __init__(self, size: int) -> None:
        super().__init__(f"kexec-metadata blob too small ({size} bytes)")
        self.size = size


class MetadataVersionError(MetadataError):
    """A ``version`` this ABI does not know."""

    def __init__(self, version: int, expected: int) -> None:
        super().__init__(f"kexec-metadata version {version} not supported (expected {expected})")
        self.version = version
        self.expected = expected


class MetadataTruncated(MetadataError):
    """A known version, but fewer bytes than its struct."""

    def __init__(self, version: int, size: int, needed: int) -> None:
        super().__init__(f"kexec-metadata blob too small for v{version} ({size} < {needed})")
        self.version = version
        self.size = size
        self.needed = needed


class FdtError(AbiError):
    """The KHO root FDT cannot be read as KHO wrote it."""


class FdtInvalid(FdtError):
    """libfdt refuses the container (header, structure block, bounds).

    ``code`` is libfdt's negative error number, as the kernel prints it in
    ``handover FDT (0x...) is invalid: %d``.
    """

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class FdtIncompatible(FdtError):
    """The root ``compatible`` is missing or names no KHO ABI version."""


class FdtNodeError(FdtError):
    """A node lacks a property its ABI version requires, or has one of the wrong size."""

    def __init__(self, message: str, node: str) -> None:
        super().__init__(message)
        self.node = node
