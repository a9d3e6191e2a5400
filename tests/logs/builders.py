"""Kernel logs built the way kernels print them, for the log tests."""

from __future__ import annotations

from kexec_lineage.abi.kho_boot import Kernel, KhoImage, boot

BANNER = "Linux version {release} (builder@example.org) (gcc (Debian 12.2.0-14) 12.2.0) #1 SMP"


def console(lines: list[str], start: float = 0.0) -> bytes:
    """Lines with the kernel's ``[ time]`` prefix, 1 ms apart."""
    return b"".join(
        b"[%12.6f] %s\n" % (start + i / 1000, line.encode()) for i, line in enumerate(lines)
    )


def kernel_boot(
    release: str,
    cmdline: str = "console=ttyS0 root=/dev/vda",
    incoming: KhoImage | None = None,
    *,
    kho: str | None = "kho-v3",
    body: tuple[str, ...] = ("Calibrating delay loop... 5187.80 BogoMIPS",),
    ending: tuple[str, ...] = ("kexec_core: Starting new kernel",),
) -> tuple[list[str], KhoImage | None]:
    """One boot's messages, the KHO lines coming from the kernel model."""
    result = boot(Kernel(release, kho), incoming)
    lines = [
        BANNER.format(release=release),
        f"Command line: {cmdline}",
        "x86/fpu: Supporting XSAVE feature 0x001: 'x87 floating point registers'",
        *result.lines,
        *body,
        *ending,
    ]
    return lines, result.image
