"""
Record and status
-----------------

``record`` runs once per boot (a systemd oneshot, early): it probes, reconciles,
harvests the crashes the previous boot left in pstore, spools everything for
shipping and appends the boot to the ledger. Running it again in the same
boot changes nothing. ``status`` shows the same boot and the host's chain.

Each boot goes with its start time; a kexec'd boot also sends its
predecessor's whole uptime, a boot that finds a crash dump in pstore the
crashed boot's uptime at the crash, and ``ship`` the running boot's uptime
so far (:func:`report_uptime`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kexec_lineage.host.identity import read_identity, read_uptime
from kexec_lineage.host.ledger import Ledger
from kexec_lineage.host.probe import Probe, probe
from kexec_lineage.host.reconcile import reconcile
from kexec_lineage.host.spool import Spool
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.chain import Chain
from kexec_lineage.model.wire import BootRecord, CrashRecord, synthetic_boot_id

__all__ = (
    "Recorded",
    "State",
    "current_boot",
    "record",
    "report_uptime",
    "summary",
)


@dataclass(frozen=True, slots=True)
class State:
    """Where the host agent keeps its ledger and spool."""

    directory: Path

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.directory)

    @property
    def spool(self) -> Spool:
        return Spool(self.directory / "spool")


@dataclass(frozen=True, slots=True)
class Recorded:
    boot: Boot
    crashes: tuple[CrashRecord, ...]
    recorded: bool
    problems: tuple[str, ...]


def _harvest(found: Probe, boot: Boot) -> tuple[list[CrashRecord], list[str]]:
    """Crash records from pstore dumps not harvested before, and their digests.

    A dump belongs to the boot before this one: the last recorded boot, else
    the one our evidence names, else a boot nobody recorded, named by the dump.
    """
    owner = found.history[-1] if found.history else None
    owner_id = owner.boot_id if owner else boot.previous_boot_id
    crashes, digests = [], []
    for dump in found.new_dumps:
        digests.append(dump.digest)
        release = dump.release or (owner.release if owner else None)
        # At the first record on a host nothing names the crashed boot.
        crashed = owner_id or synthetic_boot_id(boot.host, dump.digest)
        crashes += [
            CrashRecord(boot.host, crashed, crash, f"pstore:{dump.reason}", release)
            for crash in dump.crashes
        ]
    return crashes, digests


def current_boot(root: Path, state: State) -> tuple[Boot, Probe]:
    """This boot: as recorded in the ledger, else reconciled now."""
    found = probe(root, state.ledger)
    return found.recorded or reconcile(found), found


def record(root: Path, state: State) -> Recorded:
    """Record this boot once.

    The spool is written before the ledger: a crash in between spools the
    records again on the next run, which the collector deduplicates, rather
    than losing them.
    """
    boot, found = current_boot(root, state)
    if found.recorded is not None:
        return Recorded(boot, (), False, found.problems)
    crashes, digests = _harvest(found, boot)
    started_at = found.started_at
    spool = state.spool
    spool.put("boot", BootRecord(boot, started_at, facts=found.facts).as_dict())
    for ended in (_kexec_predecessor(found, boot), _crashed_predecessor(found)):
        if ended is not None:
            spool.put("boot", ended)
    for crash in crashes:
        spool.put("crash", crash.as_dict())
    now = time.time()
    for digest in digests:
        state.ledger.append({"type": "pstore", "digest": digest, "time": now})
    entry = {"type": "boot", "time": now, "boot": boot.as_dict()}
    state.ledger.append(entry if started_at is None else entry | {"started_at": started_at})
    return Recorded(boot, tuple(crashes), True, found.problems)


def _timed(boot: Boot, started_at: float | None, uptime: float | None = None) -> dict[str, Any]:
    """The boot as the collector takes it, with its start and uptime in hours where known."""
    return BootRecord(boot, started_at, None if uptime is None else uptime / 3600).as_dict()


def _kexec_predecessor(found: Probe, boot: Boot) -> dict[str, Any] | None:
    """The boot this one was kexec'd from, with its whole uptime.

    A kexec leaves no gap: the predecessor was up from its start until this
    boot's start. (Across a cold boot the gap is unknown, so the predecessor
    keeps the last uptime ``report_uptime`` sent.)
    """
    started_at, before_start = found.started_at, found.previous_start
    if boot.how != "kexec" or started_at is None or before_start is None:
        return None
    before = found.history[-1]
    if before.boot_id != boot.previous_boot_id:
        return None
    if before_start > started_at:
        return None  # the clock went backwards between the boots: no figure beats a wrong one
    return _timed(before, before_start, started_at - before_start)


def _crashed_predecessor(found: Probe) -> dict[str, Any] | None:
    """The last recorded boot, with its uptime at the crash it left in pstore.

    The crash ended it, so this is its whole uptime (but for the seconds a
    panic takes to reset), however it was rebooted.
    """
    if not found.history:
        return None
    before = found.history[-1]
    uptimes = [
        dump.uptime
        for dump in found.new_dumps
        if dump.uptime is not None and dump.release in (None, before.release)
    ]
    if not uptimes:
        return None
    return _timed(before, found.previous_start, max(uptimes))


def report_uptime(root: Path, state: State) -> Path | None:
    """Spool this boot's uptime so far, replacing the report not yet shipped.

    Boot-hours are the exposure crash rates are measured against; run with
    every ``ship``, the last report before a reboot bounds the boot's length.
    Nothing before ``record`` has recorded this boot.

    :raises InputError: no identity under ``root``.
    """
    identity = read_identity(root)
    entries = state.ledger.entries()
    this = next((b for b in Ledger.boots_in(entries) if b.boot_id == identity.boot_id), None)
    uptime = read_uptime(root)
    if this is None or uptime is None:
        return None
    started_at = Ledger.start_of(entries, this.boot_id)
    return state.spool.put(
        "boot", _timed(this, started_at, uptime), replaces=f"uptime of {this.boot_id}"
    )


def summary(boot: Boot, chain: Chain) -> str:
    """One line: ``booted via kexec from 6.18.3 (count 3); chain: cold 6.17.0 -> ...``."""
    if boot.how == "cold":
        head = "booted cold (count 0)"
    elif boot.how == "kdump":
        head = f"booted as kdump crash kernel after {boot.previous_release or '?'}"
    else:
        head = f"booted via kexec from {boot.previous_release or '?'} (count {boot.kexec_count})"
    releases = [b.release for b in chain]
    first = chain[0]
    if first.how == "cold":
        start = "cold "
    else:
        # The ledger does not reach back to the cold boot.
        missing = max(0, first.kexec_count - 1)
        start = f"... ({missing} earlier) -> " if missing else ""
        if first.previous_release:
            start += f"{first.previous_release} -> "
    return f"{head}; chain: {start}{' -> '.join(releases)}"
