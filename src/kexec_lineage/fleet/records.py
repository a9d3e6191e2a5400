"""
Records
-------

What the fleet stores, as the host agent and the log ingest hand it over:
a boot of a host, and a crash in a boot of a host. Also how two reports of
the same boot are merged, so that a later record with more evidence enriches
the stored boot instead of duplicating it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

from kexec_lineage.model.boot import Boot
from kexec_lineage.model.crash import Crash

__all__ = ("BootRecord", "CrashRecord", "fingerprint", "merge_boots")


@dataclass(frozen=True, slots=True)
class BootRecord:
    """A boot of ``boot.host``; ``hours`` is its uptime where known."""

    boot: Boot
    started_at: float | None = None
    hours: float | None = None


@dataclass(frozen=True, slots=True)
class CrashRecord:
    """A crash in boot ``boot_id`` of ``host``."""

    host: str
    boot_id: str
    crash: Crash
    source: str = ""
    release: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.crash)


def fingerprint(crash: Crash) -> str:
    """A stable content hash: the same crash report sent twice has the same one."""
    canonical = json.dumps([crash.title, crash.report], separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def merge_boots(stored: Boot, incoming: Boot) -> Boot | None:
    """``stored`` enriched by ``incoming``; ``None`` when nothing changes.

    The report with more evidence decides the reconciled fields; the other
    only fills what it left empty. Evidence and disagreements are united.
    """
    richer, poorer = (
        (incoming, stored) if len(incoming.evidence) > len(stored.evidence) else (stored, incoming)
    )
    evidence = richer.evidence + tuple(e for e in poorer.evidence if e not in richer.evidence)
    disagreements = richer.disagreements + tuple(
        d for d in poorer.disagreements if d not in richer.disagreements
    )
    merged = replace(
        richer,
        previous_release=richer.previous_release or poorer.previous_release,
        previous_boot_id=richer.previous_boot_id or poorer.previous_boot_id,
        machine_id=richer.machine_id or poorer.machine_id,
        evidence=evidence,
        disagreements=disagreements,
    )
    return None if merged == stored else merged
