"""
Writers
-------

A simulated fleet in the two shapes the project reads: rows of a fleet
database, as the host agent would have shipped them after reconciliation,
and one console log per host, as a serial-console archive keeps them.

Both come from one walk over each host's boots that runs the kernel model of
:mod:`kexec_lineage.abi.kho_boot`, so the ``KHO:`` lines of a log are those a
kernel prints: a kho-v4 kernel kexec'd from a kho-v3 one refuses the
incoming state (``disabling KHO revival``) and prints no ``exec from`` line,
while our ``kexec_lineage.*`` parameters still carry the chain. Crash rows
are what :func:`~kexec_lineage.logs.crash_report.parse_crashes` makes of
each simulated report, as the agent would harvest them.

The boots whose record lost the previous release were kexec'd outside our
wrapper (``kexec -l``: no parameters, no KHO state), and the agent only saw
the previous kernel's log end in a kexec. A console log still shows the boot
before, so log ingest recovers what the record lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from kexec_lineage.abi.cmdline import LineageParams, replace_params
from kexec_lineage.abi.kho_boot import Kernel, KhoBoot, boot
from kexec_lineage.errors import InputError
from kexec_lineage.fleet.records import BootRecord, CrashRecord
from kexec_lineage.fleet.schema import boots, crashes, hosts
from kexec_lineage.fleet.store import Store, boot_row, crash_row
from kexec_lineage.logs.console import console_line
from kexec_lineage.logs.crash_report import parse_crashes
from kexec_lineage.model.boot import Boot, Evidence
from kexec_lineage.model.handover import Handover
from kexec_lineage.sim.crashes import Signature, report_lines
from kexec_lineage.sim.fleet import ENDINGS, EPOCH, Fleet
from kexec_lineage.sim.scenario import CALENDAR, HARDWARE, PLATFORMS, REGIONS

__all__ = ("write_db", "write_logs")

_BATCH = 20_000  # rows per INSERT statement
_USEC = 3_600_000_000  # microseconds per hour
_LINE_USEC = 100  # between the lines of one report
_BANNER = (
    "Linux version {release} (builder@build.fleet.example) "
    "(gcc (GCC) 14.2.1 20250207, GNU ld (GNU Binutils) 2.44) #1 SMP PREEMPT_DYNAMIC"
)
_ENDING_LINES = {
    "kexec": "kexec_core: Starting new kernel",
    "reboot": "reboot: Restarting system",
}


@dataclass(frozen=True, slots=True)
class _Crash:
    signature: Signature
    at: float  # hours after the boot started
    pid: int
    cpu: int


@dataclass(frozen=True, slots=True)
class _Boot:
    """One boot with what both writers need."""

    record: Boot
    #: what the kernel prints as ``Hardware name:``
    hardware: str
    #: kexec'd through our wrapper (``kexec -s`` with our parameters)
    wrapped: bool
    kho: KhoBoot
    start: float
    hours: float
    ending: str
    crashes: tuple[_Crash, ...]


class _KernelModel:
    """:func:`kexec_lineage.abi.kho_boot.boot`, remembered: what a kernel does depends
    only on itself and on the kernel and record it was kexec'd from."""

    def __init__(self) -> None:
        self._seen: dict[tuple[Kernel, Kernel | None, Handover | None], KhoBoot] = {}

    def boot(self, kernel: Kernel, before: tuple[Kernel, KhoBoot] | None) -> KhoBoot:
        key = (kernel, None, None) if before is None else (kernel, before[0], before[1].handed_on)
        if key not in self._seen:
            self._seen[key] = boot(kernel, None if before is None else before[1].handoff)
        return self._seen[key]


def _walk(fleet: Fleet) -> Iterator[tuple[int, list[_Boot]]]:
    """Each host and its boots, in order."""
    b, c = fleet.boots, fleet.crashes
    boot_ids = fleet.boot_ids()
    kernels = [Kernel(r.release, r.kho) for r in CALENDAR]
    host_first = np.searchsorted(b.host, np.arange(fleet.hosts + 1)).tolist()
    crash_first = np.searchsorted(c.boot, np.arange(len(b) + 1)).tolist()
    release, previous, lost, count, start, hours, ending = (
        a.tolist()
        for a in (b.release, b.previous, b.lost, b.kexec_count, b.start, b.hours, b.ending)
    )
    signature, at = c.signature.tolist(), c.at.tolist()
    model = _KernelModel()
    for host in range(fleet.hosts):
        name, hardware = fleet.host_name(host), HARDWARE[fleet.platform[host]]
        walked: list[_Boot] = []
        for i in range(host_first[host], host_first[host + 1]):
            kernel = kernels[release[i]]
            wrapped = previous[i] >= 0 and not lost[i]
            kho = model.boot(kernel, (kernels[release[i - 1]], walked[-1].kho) if wrapped else None)
            record = Boot(name, boot_ids[i], kernel.release, "cold")
            if previous[i] >= 0:
                record = _kexec(record, count[i], walked[-1].record if wrapped else None, kho)
            crashes = tuple(
                _Crash(fleet.signatures[signature[k]], at[k], 1000 + k * 7919 % 60000, k % 32)
                for k in range(crash_first[i], crash_first[i + 1])
            )
            walked.append(
                _Boot(
                    record, hardware, wrapped, kho, start[i], hours[i], ENDINGS[ending[i]], crashes
                )
            )
        yield host, walked


def _kexec(cold: Boot, count: int, before: Boot | None, kho: KhoBoot) -> Boot:
    """``cold`` made the kexec boot the agent reconciles: from our parameters, with KHO's
    record where the kernel accepted one (its count restarts where the chain crossed an
    ABI change). ``before`` is ``None`` after a kexec outside our wrapper, which only the
    previous kernel's log shows."""
    if before is None:
        seen = Evidence("pstore", True, detail="previous kernel's log (pstore) ends in kexec")
        return replace(cold, how="kexec", kexec_count=count, evidence=(seen,))
    evidence = [Evidence("cmdline", True, before.release, count, before.boot_id, "kexec_lineage.*")]
    if kho.received is not None:
        received = kho.received
        evidence.append(Evidence("kho", True, received.previous_release, received.kexec_count))
    return replace(
        cold,
        how="kexec",
        previous_release=before.release,
        kexec_count=count,
        previous_boot_id=before.boot_id,
        evidence=tuple(evidence),
    )


def _report(view: _Boot, crash: _Crash) -> list[tuple[int, str]]:
    """A crash's lines and their times; a fatal one's last line ends the boot."""
    lines = report_lines(
        crash.signature,
        pid=crash.pid,
        cpu=crash.cpu,
        release=view.record.release,
        hardware=view.hardware,
    )
    end = round(view.hours * _USEC)
    length = len(lines) * _LINE_USEC
    if crash.signature.fatal:
        first = end - length + _LINE_USEC
    else:  # after the boot messages, before the shutdown messages
        first = min(max(round(crash.at * _USEC), 10_000_000), end - 2_000_000 - length)
    return [(first + k * _LINE_USEC, line) for k, line in enumerate(lines)]


def _console(timed: list[tuple[int, str]]) -> bytes:
    return b"".join(console_line(line.encode(), usec) for usec, line in timed)


def _boot_log(view: _Boot, root: str) -> bytes:
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
        timed += _report(view, crash)
    if view.ending in _ENDING_LINES:
        end = round(view.hours * _USEC)
        timed += [
            (end - 1_000_000, "systemd-shutdown[1]: Syncing filesystems and block devices."),
            (end, _ENDING_LINES[view.ending]),
        ]
    return _console(timed)


def write_logs(
    fleet: Fleet, directory: Path, progress: Callable[[int], None] | None = None
) -> None:
    """One console log per host, ``<directory>/<host>.log``, with every boot.

    :raises InputError: a log that cannot be written.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for host, walked in _walk(fleet):
            root = f"{0x5C0E9F3A + host:08x}-6b5a-4c3d-9e8f-{host:012x}"
            text = b"".join(_boot_log(view, root) for view in walked)
            (directory / f"{fleet.host_name(host)}.log").write_bytes(text)
            if progress is not None:
                progress(host + 1)
    except OSError as exc:
        raise InputError(f"cannot write logs to {directory}: {exc.strerror or exc}") from None


def _crash_records(view: _Boot) -> list[CrashRecord]:
    """What the agent harvests from the boot's crash reports."""
    record = view.record
    return [
        CrashRecord(record.host, record.boot_id, crash, "console", record.release)
        for c in view.crashes
        for crash in parse_crashes(_console(_report(view, c)))
    ]


def write_db(fleet: Fleet, store: Store, progress: Callable[[int], None] | None = None) -> None:
    """Store the fleet's hosts, boots and crashes in two transactions of large INSERTs.

    :raises InputError: the database holds a host of this fleet already.
    :raises StoreError: the database refused them.
    """
    now = EPOCH + fleet.days * 24 * 3600
    names = [fleet.host_name(h) for h in range(fleet.hosts)]
    known = sa.select(hosts.c.name, hosts.c.id)
    with store.transaction("storing simulated hosts") as connection:
        ids = dict(connection.execute(known).all())
        if taken := next((name for name in names if name in ids), None):
            raise InputError(f"the database holds host {taken} already: simulate into a new one")
        connection.execute(
            hosts.insert(),
            [
                {
                    "name": name,
                    "platform": PLATFORMS[platform],
                    "region": REGIONS[region],
                    "first_seen": EPOCH,
                    "last_seen": now,
                }
                for name, platform, region in zip(
                    names, fleet.platform.tolist(), fleet.region.tolist(), strict=True
                )
            ],
        )
        ids = dict(connection.execute(known).all())
    with store.transaction("storing simulated boots and crashes") as connection:
        rows: dict[sa.Table, list[dict[str, Any]]] = {boots: [], crashes: []}
        for host, walked in _walk(fleet):
            host_id = ids[names[host]]
            for view in walked:
                record = BootRecord(view.record, EPOCH + view.start * 3600, view.hours)
                rows[boots].append(boot_row(record, host_id, now))
                rows[crashes] += [
                    crash_row(crash, (host_id, crash.boot_id, crash.fingerprint), now)
                    for crash in _crash_records(view)
                ]
            if len(rows[boots]) >= _BATCH or host + 1 == fleet.hosts:
                for table, batch in rows.items():
                    if batch:
                        connection.execute(table.insert(), batch)
                    batch.clear()
            if progress is not None:
                progress(host + 1)
