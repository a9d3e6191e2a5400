"""
Reading files
-------------

Bounded reads of kernel-provided files and of paths a user names, with every
``OSError`` turned into one :class:`~kexec_lineage.errors.InputError` line.
"""

from __future__ import annotations

from pathlib import Path

from kexec_lineage.errors import InputError

__all__ = ("MAX_FILE_SIZE", "read_bytes")

#: Larger than any KHO blob or log we read whole; stops ``/dev/zero`` and friends.
MAX_FILE_SIZE = 64 << 20


def read_bytes(path: Path, limit: int = MAX_FILE_SIZE) -> bytes:
    """The contents of ``path``.

    :raises InputError: it cannot be read, or holds more than ``limit`` bytes.
    """
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"{path}: larger than {limit} bytes; not a file this command reads")
    return data
