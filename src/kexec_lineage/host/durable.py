"""
Durable writes
--------------

The host agent runs while machines lose power and kexec, so a file it writes
must be, after any crash, either absent or whole, and once a write returns its
name must be on disk too: a rename is not durable until the directory holding
it is fsynced. Without that a boot can reach the ledger while the spool record
that would send it to the collector vanishes.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

__all__ = ("fsync_dir", "make_dirs", "write_atomic")


def fsync_dir(path: Path) -> None:
    """Flush the entries of directory ``path`` (names created, renamed, removed) to disk.

    :raises OSError: it cannot be opened or synced.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path) -> None:
    """Create directory ``path`` and its missing parents, each name durably.

    A state directory made at first boot must not vanish with the files in it.

    :raises OSError: one cannot be created or synced.
    """
    missing = []
    while not path.is_dir() and path != path.parent:
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        fsync_dir(directory.parent)


def write_atomic(path: Path, data: bytes, *, previous: Path | None = None) -> None:
    """Make ``data`` the contents of ``path`` durably, never showing a partial file.

    The bytes go to ``.<name>.tmp`` beside ``path``, are fsynced, renamed over
    ``path``, and the directory is fsynced. With ``previous``, the file now at
    ``path`` is first renamed to ``previous`` (replacing it), once the new file
    is whole. Writers of one ``path`` must not run at once (the name of the
    temporary file is fixed); on failure it is removed.

    :raises OSError: any step fails; ``path`` is then the old file, or, if only
        the last rename failed after ``previous`` was given, absent.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if previous is not None:
            os.replace(path, previous)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
