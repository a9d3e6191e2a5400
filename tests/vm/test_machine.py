"""The harness itself: a VM that dies or hangs is reported as LostVM, never as a verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vm import BUILD
from tests.vm.kernels import Kernel
from tests.vm.machine import LostVM, make_disk, run_vm

pytestmark = pytest.mark.slow


def test_dead_vm_is_lost(kernels: tuple[Kernel, Kernel], initramfs: Path) -> None:
    """init exits at once: the kernel panics, QEMU stops (-no-reboot), no verdict came."""
    with pytest.raises(LostVM, match=r"QEMU exited 0 before the guest's verdict"):
        run_vm(
            "dead_vm",
            kernel=kernels[1].vmlinuz,
            initrd=initramfs,
            disk=make_disk(BUILD / "disks" / "dead_vm.img"),
            append="console=ttyS0 panic=1 rdinit=/bin/false",
        )


def test_hung_vm_is_lost(kernels: tuple[Kernel, Kernel], initramfs: Path) -> None:
    """The wall-clock limit ends a VM that never reports, and says so."""
    with pytest.raises(LostVM, match=r"QEMU timed out after 1 s"):
        run_vm(
            "hung_vm",
            kernel=kernels[1].vmlinuz,
            initrd=initramfs,
            disk=make_disk(BUILD / "disks" / "hung_vm.img"),
            append="console=ttyS0",
            timeout=1,
        )
