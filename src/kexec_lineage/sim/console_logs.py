"""
Console logs
------------

A simulated fleet as a serial-console archive keeps it: one log per host with
every boot, from the kernel banner and command line (our ``kexec_lineage.*``
parameters where the boot was kexec'd through our wrapper) through the
``KHO:`` lines and crash reports of :mod:`kexec_lineage.sim.walk` to the line
that ends it. ``kexec-lineage ingest`` reads them back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kexec_lineage.abi.cmdline import replace_params
from kexec_lineage.errors import InputError
from kexec_lineage.model.lineage import LineageParams
from kexec_lineage.sim.fleet import Fleet
from kexec_lineage.sim.walk import WalkedBoot, console_output, timed_report, walk

__all__ = ("write_logs",)

_BANNER = (
    "Linux version {release} (builder@build.fleet.example) "
    "(gcc (GCC) 14.2.1 20250207, GNU ld (GNU Binutils) 2.44) #1 SMP PREEMPT_DYNAMIC"
)
_ENDING_LINES = {
    "kexec": "kexec_core: Starting new kernel",
    "reboot": "reboot: Restarting system",
}


def _boot_log(view: WalkedBoot, root: str) -> bytes:
    """The console output of one boot, from its banner to its end."""
    record = view.record
    cmdline = (
        f"BOOT_IMAGE=/boot/vmlinuz-{record.release} root=UUID={root} ro "
        "console=ttyS0,115200n8 kho=on"
    )
    if view.wrapped:
        params = LineageParams(record.previous_release, record.kexec_count, record.previous_boot_id)
        cmdline = replace_params(cmdline, params)
    timed = [
        (0, _BANNER.format(release=record.release)),
        (0, f"Command line: {cmdline}"),
        (0, f"DMI: {view.hardware}"),
        *((352_114 + 17 * k, line) for k, line in enumerate(view.kho.lines)),
        (1_873_402, "systemd[1]: Detected architecture x86-64."),
        (6_218_770, "systemd[1]: Reached target multi-user.target - Multi-User System."),
    ]
    for crash in view.crashes:
        timed += timed_report(view, crash)
    if view.ending in _ENDING_LINES:
        timed += [
            (view.end - 1_000_000, "systemd-shutdown[1]: Syncing filesystems and block devices."),
            (view.end, _ENDING_LINES[view.ending]),
        ]
    return console_output(timed)


def write_logs(
    fleet: Fleet, directory: Path, progress: Callable[[int], None] | None = None
) -> None:
    """One console log per host, ``<directory>/<host>.log``, with every boot.

    :raises InputError: a log that cannot be written.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for host, walked in walk(fleet):
            root = f"{0x5C0E9F3A + host:08x}-6b5a-4c3d-9e8f-{host:012x}"
            text = b"".join(_boot_log(view, root) for view in walked)
            (directory / f"{fleet.host_name(host)}.log").write_bytes(text)
            if progress is not None:
                progress(host + 1)
    except OSError as exc:
        raise InputError(f"cannot write logs to {directory}: {exc.strerror or exc}") from None
