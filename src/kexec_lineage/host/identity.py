"""
Identity
--------

Who this boot is: the kernel's random ``boot_id`` (new on every boot, kexec
included), the release (``uname -r``), the host name and ``machine-id``; and
when it started and how long it has been up, the exposure a crash rate is
measured against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from kexec_lineage.errors import InputError
from kexec_lineage.host.files import read_bytes

__all__ = ("Identity", "read_identity", "read_started_at", "read_text", "read_uptime")


@dataclass(frozen=True, slots=True)
class Identity:
    boot_id: str
    release: str
    host: str
    machine_id: str | None


def read_text(root: Path, relative: str) -> str | None:
    """A small text file under ``root``, stripped; ``None`` where it is absent."""
    path = root / relative
    if not path.exists():
        return None
    return read_bytes(path, 1 << 20).decode("utf-8", "surrogateescape").strip()


def read_identity(root: Path) -> Identity:
    """:raises InputError: no boot id or release under ``root`` (not a Linux root)."""
    boot_id = read_text(root, "proc/sys/kernel/random/boot_id")
    release = read_text(root, "proc/sys/kernel/osrelease")
    if not boot_id or not release:
        raise InputError(
            f"{root}: no proc/sys/kernel/random/boot_id or proc/sys/kernel/osrelease; "
            "is /proc mounted, or is --root a copied system tree?"
        )
    host = read_text(root, "proc/sys/kernel/hostname") or read_text(root, "etc/hostname")
    machine_id = read_text(root, "etc/machine-id") or None
    return Identity(boot_id, release, host or machine_id or "localhost", machine_id)


def _field(text: str | None, index: int) -> float | None:
    """Word ``index`` of ``text`` as a finite, non-negative number, else ``None``."""
    try:
        value = float((text or "").split()[index])
    except (IndexError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def read_started_at(root: Path) -> float | None:
    """This boot's wall-clock start (``btime`` of ``proc/stat``), where known."""
    stat = read_text(root, "proc/stat")
    btime = next((line for line in (stat or "").splitlines() if line.startswith("btime ")), None)
    return _field(btime, 1)


def read_uptime(root: Path) -> float | None:
    """Seconds this boot has been up (``proc/uptime``), where known."""
    return _field(read_text(root, "proc/uptime"), 0)
