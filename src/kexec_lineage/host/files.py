"""
Reading files
-------------

Bounded reads of kernel-provided files and of paths a user names, with every
``OSError`` turned into one :class:`~kexec_lineage.errors.InputError` line, and
:class:`Problems`, which lets one broken source of many leave a line and the
others be read: the agent runs at boot on every server and must not stop.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kexec_lineage.errors import InputError, LineageError

__all__ = ("MAX_FILE_SIZE", "MAX_LOG_SIZE", "Problems", "expand_paths", "read_bytes")

T = TypeVar("T")

#: Larger than any KHO blob or kernel file we read whole; stops ``/dev/zero`` and friends.
MAX_FILE_SIZE = 64 << 20
#: Console archives can be large; they are still read whole (regexes scan them in C).
MAX_LOG_SIZE = 16 << 30


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


def expand_paths(paths: list[Path]) -> list[Path]:
    """``paths`` with each directory replaced by the files in it, sorted by name.

    :raises InputError: a directory that cannot be listed.
    """
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        try:
            out += sorted(p for p in path.iterdir() if p.is_file())
        except OSError as exc:
            raise InputError(f"cannot list {path}: {exc.strerror or exc}") from None
    return out


class Problems:
    """A line for each source that could not be read, naming it and the error class."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def attempt(self, what: str, step: Callable[[], T], default: T) -> T:
        """``step()``, or ``default`` and a line where it fails as a bad source does."""
        try:
            return step()
        except (LineageError, OSError, ValueError) as exc:
            self.lines.append(f"{what}: {type(exc).__name__}: {exc}")
            return default
