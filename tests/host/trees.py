"""Copied-system trees for the host tests: what a booted kernel shows under /."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from kexec_lineage.abi.kho_boot import Kernel, KhoImage, boot
from kexec_lineage.abi.kho_fdt import parse_root


def new_boot_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Tree:
    """One boot's view of the system under ``root``."""

    root: Path
    release: str
    cmdline: str = "BOOT_IMAGE=/vmlinuz root=/dev/vda1 console=ttyS0"
    boot_id: str = field(default_factory=new_boot_id)
    hostname: str = "web-1"
    #: ``btime`` in proc/stat, and proc/uptime: absent where None
    started_at: int | None = None
    uptime: float | None = None

    def __post_init__(self) -> None:
        kernel = self.root / "proc/sys/kernel"
        (kernel / "random").mkdir(parents=True, exist_ok=True)
        (kernel / "random/boot_id").write_text(self.boot_id + "\n")
        (kernel / "osrelease").write_text(self.release + "\n")
        (kernel / "hostname").write_text(self.hostname + "\n")
        (self.root / "proc/cmdline").write_text(self.cmdline + "\n")
        (self.root / "etc").mkdir(exist_ok=True)
        (self.root / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
        for stale in ("sys/kernel/debug/kho", "dev/kmsg", "proc/stat", "proc/uptime"):
            path = self.root / stale
            if path.is_dir():
                for f in sorted(path.rglob("*"), reverse=True):
                    f.unlink() if f.is_file() else f.rmdir()
            elif path.exists():
                path.unlink()
        self.clock(self.started_at, self.uptime)

    def clock(self, started_at: int | None, uptime: float | None) -> None:
        """proc/stat's ``btime`` and proc/uptime, as the kernel words them."""
        if started_at is not None:
            (self.root / "proc/stat").write_text(
                f"cpu  1 2 3 4 5 6 7 0 0 0\nintr 1 0\nctxt 99\nbtime {started_at}\nprocesses 7\n"
            )
        if uptime is not None:
            (self.root / "proc/uptime").write_text(f"{uptime:.2f} {uptime * 3.5:.2f}\n")

    def kho_boot(self, incoming: KhoImage | None, kho: str = "kho-v3") -> KhoImage | None:
        """Boot this release through the KHO model: its kmsg and debugfs as the kernel
        would leave them. Returns what it hands on."""
        result = boot(Kernel(self.release, kho), incoming)
        base = self.root / "sys/kernel/debug/kho"
        (base / "out/sub_fdts").mkdir(parents=True, exist_ok=True)
        if result.received is not None and incoming is not None:
            (base / "in/sub_fdts").mkdir(parents=True)
            (base / "in/fdt").write_bytes(incoming.fdt)
            for child in parse_root(incoming.fdt).children:
                (base / "in/sub_fdts" / child.name).write_bytes(
                    incoming.read(child.address, child.size or 0)
                )
        self.kmsg(
            [
                f"Linux version {self.release} (b@h) (gcc) #1 SMP",
                f"Command line: {self.cmdline}",
                *result.lines,
            ]
        )
        return result.image

    def kmsg(self, lines: list[str]) -> None:
        """/dev/kmsg as a saved copy of its records."""
        (self.root / "dev").mkdir(exist_ok=True)
        (self.root / "dev/kmsg").write_bytes(
            b"".join(f"6,{i},{i * 1000},-;{line}\n".encode() for i, line in enumerate(lines))
        )

    def pstore(self, name: str, content: bytes) -> None:
        folder = self.root / "sys/fs/pstore"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
