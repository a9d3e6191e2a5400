"""
Walk
----

One walk over each host's boots of a simulated fleet, shared by the console
logs (:mod:`kexec_lineage.sim.console_logs`) and the database records
(:mod:`kexec_lineage.sim.database`), so that both tell the same story.

The walk runs the kernel model of :mod:`kexec_lineage.abi.kho_boot`, so the
``KHO:`` lines of a boot are those a kernel prints: a kho-v4 kernel kexec'd
from a kho-v3 one refuses the incoming state (``disabling KHO revival``) and
prints no ``exec from`` line, while our ``kexec_lineage.*`` parameters still
carry the chain. Each boot's :class:`~kexec_lineage.model.boot.Boot` is the
one the host agent reconciles, and its crash reports are timed lines of
console output (:func:`timed_report`).

The boots whose record lost the previous release were kexec'd outside our
wrapper (``kexec -l``: no parameters, no KHO state), and the agent only saw
the previous kernel's log end in a kexec. A console log still shows the boot
before, so log ingest recovers what the record lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from kexec_lineage.abi.kho_boot import Kernel, KhoBoot, boot
from kexec_lineage.logs.console import console_line
from kexec_lineage.model.boot import Boot, Evidence
from kexec_lineage.model.handover import Handover
from kexec_lineage.sim.crashes import Signature, report_lines
from kexec_lineage.sim.fleet import ENDINGS, LINE_USEC, USEC, Fleet, report_start
from kexec_lineage.sim.scenario import CALENDAR, HARDWARE

__all__ = ("WalkedBoot", "WalkedCrash", "console_output", "timed_report", "walk")


@dataclass(frozen=True, slots=True)
class WalkedCrash:
    """One injected crash of a boot."""

    signature: Signature
    at: float  # hours after the boot started
    pid: int
    cpu: int


@dataclass(frozen=True, slots=True)
class WalkedBoot:
    """One boot with what both the logs and the records need."""

    record: Boot
    #: what the kernel prints as ``Hardware name:``
    hardware: str
    #: kexec'd through our wrapper (``kexec -s`` with our parameters)
    wrapped: bool
    kho: KhoBoot
    #: hours since the window opened
    start: float
    hours: float
    ending: str
    crashes: tuple[WalkedCrash, ...]

    @property
    def end(self) -> int:
        """Microseconds from the boot's start to its last console line."""
        return round(self.hours * USEC)


class _KernelModel:
    """:func:`kexec_lineage.abi.kho_boot.boot`, remembered: what a kernel does depends
    only on itself and on the kernel and record it was kexec'd from."""

    def __init__(self) -> None:
        self._seen: dict[tuple[Kernel, Kernel | None, Handover | None], KhoBoot] = {}

    def boot(self, kernel: Kernel, before: tuple[Kernel, KhoBoot] | None) -> KhoBoot:
        key = (kernel, None, None) if before is None else (kernel, before[0], before[1].handed_on)
        if key not in self._seen:
            self._seen[key] = boot(kernel, None if before is None else before[1].image)
        return self._seen[key]


def walk(fleet: Fleet) -> Iterator[tuple[int, list[WalkedBoot]]]:
    """Each host (its index) and its boots, in order."""
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
        name, hardware = fleet.host_name(host), HARDWARE[int(fleet.platform[host])]
        walked: list[WalkedBoot] = []
        for i in range(host_first[host], host_first[host + 1]):
            kernel = kernels[release[i]]
            wrapped = previous[i] >= 0 and not lost[i]
            kho = model.boot(kernel, (kernels[release[i - 1]], walked[-1].kho) if wrapped else None)
            record = Boot(name, boot_ids[i], kernel.release, "cold")
            if previous[i] >= 0:
                record = _kexec(record, count[i], walked[-1].record if wrapped else None, kho)
            injected = tuple(
                WalkedCrash(fleet.signatures[signature[k]], at[k], 1000 + k * 7919 % 60000, k % 32)
                for k in range(crash_first[i], crash_first[i + 1])
            )
            walked.append(
                WalkedBoot(
                    record, hardware, wrapped, kho, start[i], hours[i], ENDINGS[ending[i]], injected
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


def timed_report(view: WalkedBoot, crash: WalkedCrash) -> list[tuple[int, str]]:
    """A crash's console lines and their times (microseconds into the boot); a fatal
    one's last line ends the boot."""
    lines = report_lines(
        crash.signature,
        pid=crash.pid,
        cpu=crash.cpu,
        release=view.record.release,
        hardware=view.hardware,
    )
    first = int(report_start(crash.at, view.end, crash.signature.fatal, len(lines)))
    return [(first + k * LINE_USEC, line) for k, line in enumerate(lines)]


def console_output(timed: list[tuple[int, str]]) -> bytes:
    """Timed lines as the console output that carries them."""
    return b"".join(console_line(line.encode(), usec) for usec, line in timed)
