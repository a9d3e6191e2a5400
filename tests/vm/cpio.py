"""A writer for the kernel's initramfs format (cpio "newc"), in the standard library only.

Writing the archive directly, instead of staging a tree for ``cpio -o``, lets every entry be
owned by root and keep the mtime of its source (Python's bytecode caches are validated against
source mtimes), without needing root or copying tens of megabytes twice.
"""

from __future__ import annotations

import stat
from pathlib import PurePosixPath
from typing import Protocol

_MAGIC = b"070701"


class Sink(Protocol):
    """Where the archive goes: a file, or a compressor in front of one."""

    def write(self, data: bytes, /) -> int: ...


class CpioWriter:
    """Appends newc entries to ``out``; parent directories are created on first use."""

    def __init__(self, out: Sink) -> None:
        self._out = out
        self._ino = 0
        self._dirs: set[str] = {""}

    def directory(self, path: str) -> None:
        path = path.strip("/")
        if path in self._dirs:
            return
        self._parent(path)
        self._dirs.add(path)
        self._entry(path, stat.S_IFDIR | 0o755, b"", 0)

    def file(self, path: str, data: bytes, mode: int = 0o644, mtime: int = 0) -> None:
        self._parent(path)
        self._entry(path.strip("/"), stat.S_IFREG | mode, data, mtime)

    def symlink(self, path: str, target: str) -> None:
        self._parent(path)
        self._entry(path.strip("/"), stat.S_IFLNK | 0o777, target.encode(), 0)

    def close(self) -> None:
        """Write the trailer; the stream itself stays open for the caller to close."""
        self._entry("TRAILER!!!", 0, b"", 0)

    def _parent(self, path: str) -> None:
        parent = str(PurePosixPath(path.strip("/")).parent)
        self.directory("" if parent == "." else parent)

    def _entry(self, name: str, mode: int, data: bytes, mtime: int) -> None:
        self._ino += 1
        encoded = name.encode() + b"\0"
        fields = (self._ino, mode, 0, 0, 1, mtime, len(data), 0, 0, 0, 0, len(encoded), 0)
        header = _MAGIC + b"".join(b"%08X" % f for f in fields)
        self._out.write(header + encoded)
        self._out.write(b"\0" * (-(len(header) + len(encoded)) % 4))
        self._out.write(data)
        self._out.write(b"\0" * (-len(data) % 4))
