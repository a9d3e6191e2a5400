"""
Record and status
-----------------

``record`` runs once per boot (a systemd oneshot, early): it probes, reconciles,
harvests the crashes the previous boot left in pstore, spools everything for
shipping and appends the boot to the ledger. Running it again in the same
boot changes nothing. ``status`` shows the same boot and the host's chain.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kexec_lineage.host.ledger import Ledger
from kexec_lineage.host.probe import Probe, probe
from kexec_lineage.host.reconcile import reconcile
from kexec_lineage.host.spool import Spool
from kexec_lineage.model.boot import Boot

__all__ = ("Recorded", "State", "chain_of", "current_boot", "record", "summary")


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
    crashes: tuple[dict[str, Any], ...]
    recorded: bool
    problems: tuple[str, ...]


def _harvest(found: Probe, boot: Boot) -> tuple[list[dict[str, Any]], list[str]]:
    """Crash records from pstore dumps not harvested before, and their digests.

    A dump belongs to the boot before this one: the last recorded boot, else
    the one our evidence names.
    """
    owner = found.history[-1] if found.history else None
    owner_id = owner.boot_id if owner else boot.previous_boot_id
    crashes, digests = [], []
    for dump in found.pstore:
        if dump.digest in found.harvested:
            continue
        digests.append(dump.digest)
        for crash in dump.crashes:
            crashes.append(
                crash.as_dict()
                | {
                    "host": boot.host,
                    "boot_id": owner_id,
                    "release": dump.release or (owner.release if owner else None),
                    "source": f"pstore:{dump.reason}",
                    "file": dump.origin,
                    "recorded_by": boot.boot_id,
                }
            )
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
    spool = state.spool
    spool.put("boot", boot.as_dict())
    for crash in crashes:
        spool.put("crash", crash)
    now = time.time()
    for digest in digests:
        state.ledger.append({"type": "pstore", "digest": digest, "time": now})
    state.ledger.append({"type": "boot", "time": now, "boot": boot.as_dict()})
    return Recorded(boot, tuple(crashes), True, found.problems)


def chain_of(boot: Boot, history: list[Boot]) -> list[Boot]:
    """The boots from the last cold boot up to ``boot``, as far as the ledger knows."""
    chain = [boot]
    by_id = {b.boot_id: b for b in history}
    while chain[0].how != "cold":
        before = by_id.get(chain[0].previous_boot_id or "")
        if before is None or before in chain:
            break
        chain.insert(0, before)
    return chain


def summary(boot: Boot, chain: list[Boot]) -> str:
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
