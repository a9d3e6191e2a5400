"""
Ledger
------

The host's own chain: one JSON line per event (a boot recorded, a kexec
loaded, a pstore dump harvested), in ``ledger.jsonl`` under the state
directory. It must survive power loss at any moment, since the host agent
runs while machines crash and kexec:

- an append is one ``write()`` of a whole line on an ``O_APPEND`` file,
  followed by ``fsync``; a torn last line (no newline, or not JSON) is
  skipped on read and terminated before the next append; a write the disk
  takes only part of is truncated back and fails;
- past ``max_bytes`` the ledger rotates: the entries of the current chain are
  written to a new file, fsynced, and renamed into place, the old file
  becoming ``ledger.jsonl.1`` (the one before is dropped). Readers merge both
  files and drop duplicate lines, so a crash between the two renames loses
  nothing, and read no more than their last 256 KiB.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from kexec_lineage.errors import InputError
from kexec_lineage.host.durable import fsync_dir, make_dirs, write_atomic
from kexec_lineage.model.boot import Boot

__all__ = ("DEFAULT_STATE_DIR", "READ_WINDOW", "Ledger")

#: Bytes of the ledger's end that are read (:attr:`Ledger.window`).
READ_WINDOW = 256 << 10

#: Relative to the system root.
DEFAULT_STATE_DIR = Path("var/lib/kexec-lineage")


class Ledger:
    """The ledger in ``directory`` (created on first append)."""

    def __init__(self, directory: Path, max_bytes: int = 1 << 20) -> None:
        self.directory = directory
        self.path = directory / "ledger.jsonl"
        self.previous = directory / "ledger.jsonl.1"
        self.max_bytes = max_bytes
        #: bytes read from the end of the ledger: some 850 boots, far more than
        #: reconciliation looks back, and small enough for every boot's ``record``
        self.window = READ_WINDOW

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            make_dirs(self.directory)
            fd = os.open(self.directory / "ledger.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(
                f"cannot use state directory {self.directory}: {exc.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def entries(self) -> list[dict[str, Any]]:
        """The readable entries of the last :attr:`window` bytes, oldest first.

        Reconciliation needs only the last boots, and ``record`` runs at every
        boot against a start timeout: however large the files have grown (by
        hand, or by an older agent), no more than the window is read.
        """
        seen: set[bytes] = set()
        out = []
        for data in self._tail():
            for line in data.split(b"\n"):
                if not line or line in seen:
                    continue
                seen.add(line)
                try:
                    entry = json.loads(line)
                except (ValueError, RecursionError):
                    continue  # torn by a crash, or damaged: skip
                if isinstance(entry, dict):
                    out.append(entry)
        return out

    def _tail(self) -> list[bytes]:
        """The last :attr:`window` bytes of ``ledger.jsonl.1`` then ``ledger.jsonl``,
        in whole lines: the current file first, the rotated one for what is left."""
        parts: list[bytes] = []
        budget = self.window
        for path in (self.path, self.previous):
            if budget <= 0:
                break
            try:
                with path.open("rb") as f:
                    size = f.seek(0, os.SEEK_END)
                    # One byte more than the budget: whether it starts a line.
                    f.seek(max(0, size - budget - 1))
                    data = f.read(budget + 1)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise InputError(f"cannot read {path}: {exc.strerror}") from None
            if size > budget:
                data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
            budget -= size
            parts.insert(0, data)
        return parts

    def boots(self) -> list[Boot]:
        """The recorded boots, oldest first."""
        return self.boots_in(self.entries())

    @staticmethod
    def boots_in(entries: list[dict[str, Any]]) -> list[Boot]:
        """The boots among ledger ``entries``."""
        boots = []
        for _, boot in _boot_entries(entries):
            try:
                boots.append(Boot.from_dict(boot))
            except (KeyError, TypeError, ValueError):
                continue
        return boots

    @staticmethod
    def start_of(entries: list[dict[str, Any]], boot_id: str) -> float | None:
        """The wall-clock start the entries record for boot ``boot_id``, if any."""
        for entry, boot in _boot_entries(entries):
            started_at = entry.get("started_at")
            if (
                boot.get("boot_id") == boot_id
                and isinstance(started_at, int | float)
                and not isinstance(started_at, bool)
                and math.isfinite(started_at)
            ):
                return float(started_at)
        return None

    def append(self, entry: dict[str, Any]) -> None:
        """Add ``entry`` durably.

        :raises InputError: the state directory cannot be written.
        """
        line = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        with self._locked():
            try:
                size = self._append(line)
            except OSError as exc:
                raise InputError(f"cannot write {self.path}: {exc.strerror}") from None
            if size > self.max_bytes:
                self._rotate()

    def _append(self, line: bytes) -> int:
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # end a torn line so that ours stands alone
            try:
                _write_all(fd, line)
                os.fsync(fd)
            except OSError:
                # A full disk takes part of a line: take it back, so that the
                # ledger never says what the caller was told failed.
                with suppress(OSError):
                    os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.directory)
        return size + len(line)

    def _rotate(self) -> None:
        entries = self.entries()
        # Keep the current chain, everything from the last cold boot on, but
        # at most half the bound, so that rotation does not follow every append
        # on a host that only ever kexecs; older entries stay in ledger.jsonl.1.
        cold = [
            i
            for i, e in enumerate(entries)
            if e.get("type") == "boot"
            and isinstance(e.get("boot"), dict)
            and e["boot"].get("how") == "cold"
        ]
        lines = [
            json.dumps(e, sort_keys=True, separators=(",", ":")).encode() + b"\n" for e in entries
        ]
        start = cold[-1] if cold else 0
        while start < len(lines) - 1 and sum(map(len, lines[start:])) > self.max_bytes // 2:
            start += 1
        try:
            write_atomic(self.path, b"".join(lines[start:]), previous=self.previous)
        except OSError as exc:
            raise InputError(f"cannot rotate {self.path}: {exc.strerror}") from None


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data``; a short write on a full disk is an :class:`OSError`."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def _boot_entries(entries: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """``(entry, boot)`` for each entry that records a boot."""
    for entry in entries:
        boot = entry.get("boot")
        if entry.get("type") == "boot" and isinstance(boot, dict):
            yield entry, boot
