"""Real file systems that fail as disks do: a tmpfs that fills, a read-only mount.

They need root (CI runs as root); elsewhere the tests that use them skip.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(*argv: str | Path) -> None:
    result = subprocess.run(["mount", *map(str, argv)], check=False, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here: {result.stderr.strip()}")


@contextmanager
def small_disk(path: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes at ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", path)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def fill(disk: Path) -> None:
    """Take every byte left on ``disk``."""
    with (disk / "filler").open("wb", buffering=0) as f:
        try:
            while f.write(b"\0" * 512):
                pass
        except OSError:
            pass


@contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """``path`` bind-mounted read-only over itself: root cannot write there either."""
    _mount("--bind", path, path)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)
