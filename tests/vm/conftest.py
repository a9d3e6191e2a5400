"""Session fixtures of the VM tests: the kernels (downloaded once) and the initramfs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import tool
from tests.vm.initramfs import build_initramfs
from tests.vm.kernels import Kernel, KernelFetchError, fetch_kernels


@pytest.fixture(scope="session")
def kernels() -> tuple[Kernel, Kernel]:
    """6.1 and 6.12. Missing tools or apt errors fail the tests, never skip them: `make test`
    installs the tools, and deb.debian.org is as much a part of the setup as they are."""
    for name in ("qemu-system-x86_64", "kexec", "busybox", "mkfs.ext4", "apt-get", "dpkg-deb"):
        tool(name)
    try:
        k61, k612 = fetch_kernels()
    except KernelFetchError as e:
        pytest.fail(f"could not fetch the Debian kernels: {e}")
    return k61, k612


@pytest.fixture(scope="session")
def initramfs(kernels: tuple[Kernel, Kernel]) -> Path:
    """One image for the whole session: it carries src/ as it is now."""
    return build_initramfs(kernels)
