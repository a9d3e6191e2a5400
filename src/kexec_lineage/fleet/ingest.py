"""
Log ingest
----------

Turns console-log archives into fleet records, so a fleet can be analysed from
the logs it already has before any agent is deployed. Each boot the logs layer
finds becomes a boot record: its lineage from the ``KHO: exec from`` line, our
command-line parameters, or the boot before it in the same log; each crash is
attributed to the boot it happened in. Logs carry no boot ids, so a boot's id
is derived from its host and its first 64 KiB of text: the same boot read
twice, from the same file or an overlapping one, is the same record.
"""

from __future__ import annotations

import hashlib
import uuid

from kexec_lineage.fleet.records import BootRecord, CrashRecord
from kexec_lineage.logs.boots import LogBoot, uptime_seconds
from kexec_lineage.logs.scan import ScannedLog
from kexec_lineage.model.boot import Boot, Evidence

__all__ = ("records_from_log",)

_NAMESPACE = uuid.UUID("5d0e8f7c-0f0b-4d6e-9a3b-6b2f1f9d7c11")


def _boot_id(host: str, text: bytes, boot: LogBoot) -> str:
    if boot.boot_id:
        return boot.boot_id
    digest = hashlib.sha256(text[boot.start : min(boot.end, boot.start + 65536)]).hexdigest()
    return str(uuid.uuid5(_NAMESPACE, f"{host}\0{digest}"))


def _lineage(boot: LogBoot, before: Boot | None) -> tuple[str | None, int, str | None]:
    """(previous release, kexec count, previous boot id) for a kexec or kdump boot."""
    previous_release = (
        boot.kho_exec_from or boot.params.prev or (before.release if before is not None else None)
    )
    counts = [c for c in (boot.kho_count, boot.params.count) if c is not None]
    if not counts and before is not None:
        counts.append(before.kexec_count + 1)
    previous_boot_id = before.boot_id if before is not None else boot.params.boot
    return previous_release, max(counts, default=1), previous_boot_id


def records_from_log(scanned: ScannedLog, host: str) -> tuple[list[BootRecord], list[CrashRecord]]:
    """Boot and crash records of one scanned log of ``host``."""
    text = scanned.log.text
    boots: list[Boot] = []
    records = []
    for log_boot in scanned.boots:
        boot_id = _boot_id(host, text, log_boot)
        evidence = tuple(Evidence("log", True, detail=e) for e in log_boot.start_evidence)
        previous = boots[-1] if boots else None
        if log_boot.started == "cold":
            boot = Boot(host, boot_id, log_boot.release or "unknown", "cold", evidence=evidence)
        else:
            ended_in_kexec = previous is not None and scanned.boots[log_boot.index - 1].ended in (
                "kexec",
                "kdump",
            )
            release, count, previous_id = _lineage(log_boot, previous if ended_in_kexec else None)
            boot = Boot(
                host,
                boot_id,
                log_boot.release or "unknown",
                log_boot.started,
                release,
                count,
                previous_id,
                evidence=evidence,
            )
        boots.append(boot)
        uptime = uptime_seconds(text, log_boot)
        records.append(BootRecord(boot, hours=None if uptime is None else uptime / 3600))
    crashes = [
        CrashRecord(
            host,
            boots[index].boot_id,
            crash,
            scanned.log.source,
            scanned.boots[index].release,
        )
        for index, crash in scanned.crashes
    ]
    return records, crashes
