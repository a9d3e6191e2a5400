"""Session fixtures of the VM tests: the kernels (fetched or built once) and the initramfs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import tool
from tests.vm.initramfs import build_initramfs
from tests.vm.kernels import Kernel, KernelFetchError, fetch_kernels
from tests.vm.kho_kernels import KernelBuildError, KhoKernel, kho_kernels

VM_TOOLS = ("qemu-system-x86_64", "kexec", "busybox", "mkfs.ext4", "apt-get", "dpkg-deb")


@pytest.fixture(scope="session")
def kernels() -> tuple[Kernel, Kernel]:
    """6.1 and 6.12. Missing tools or apt errors fail the tests, never skip them: `make test`
    installs the tools, and deb.debian.org is as much a part of the setup as they are."""
    for name in VM_TOOLS:
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


@dataclass(frozen=True)
class KhoKernels:
    """The kernels of the KHO tests: two KHO series, older first, and Debian's 7.x."""

    older: KhoKernel
    newer: KhoKernel
    debian: Kernel


def terminal(request: pytest.FixtureRequest, prefix: str) -> Callable[[str], None]:
    """A writer of lines straight to the terminal, past pytest's capture: builds and VM
    runs take minutes, and their progress and timings are worth seeing as they come."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")

    def say(line: str) -> None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"{prefix}: {line}")

    return say


@pytest.fixture(scope="session")
def kho(request: pytest.FixtureRequest) -> KhoKernels:
    """Built once per machine (minutes), then found in the cache (seconds); both are shown.

    apt or make failing fails the tests with their own words, never skips them.
    """
    for name in (*VM_TOOLS, "mkfs.ext2", "make", "gcc", "flex", "bison", "bc", "tar", "xz"):
        tool(name)
    say = terminal(request, "kho kernels")
    start = time.monotonic()
    try:
        (older, newer), debian = kho_kernels(say)
    except (KernelFetchError, KernelBuildError) as e:
        pytest.fail(f"no KHO kernels: {e}")
    took = time.monotonic() - start
    for k in (older, newer):
        say(f"{k.release} ({k.source}, {k.kho_compatible}): built in {k.build_seconds:.0f} s")
    say(f"{debian.release}: Debian's, without KHO")
    say(f"found or built in {took:.1f} s (apt update included)")
    return KhoKernels(older, newer, debian)


@pytest.fixture(scope="session")
def kho_initramfs(kho: KhoKernels) -> Path:
    return build_initramfs([kho.older.kernel, kho.newer.kernel, kho.debian], name="initramfs-kho")
