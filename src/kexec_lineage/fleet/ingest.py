"""
Log ingest
----------

Turns console-log archives into fleet records, so a fleet can be analysed from
the logs it already has before any agent is deployed. Each boot the logs layer
finds becomes a boot record, reconciled by the same rules as the host agent's
(:mod:`kexec_lineage.model.lineage`) from the ``KHO:`` lines, our command-line
parameters and the boot before it in the same log, with the host facts its
``DMI:`` line gives; each crash is attributed to the boot it happened in. Logs
carry no boot ids, so a boot's id is derived from its host and its first 64 KiB
of text: the same boot read twice, from the same file or an overlapping one, is
the same record.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kexec_lineage.host.files import MAX_LOG_SIZE, read_bytes
from kexec_lineage.logs.boots import LogBoot, uptime_seconds
from kexec_lineage.logs.console import ConsoleLog
from kexec_lineage.logs.scan import ScannedLog, scan
from kexec_lineage.logs.sources import detect_format, read_logs
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.lineage import Followers, reconcile
from kexec_lineage.model.wire import BootRecord, CrashRecord

if TYPE_CHECKING:
    from kexec_lineage.fleet.store import Store

__all__ = ("Ingested", "ingest_files", "records_from_log")

_NAMESPACE = uuid.UUID("5d0e8f7c-0f0b-4d6e-9a3b-6b2f1f9d7c11")


def _boot_id(host: str, text: bytes, boot: LogBoot) -> str:
    if boot.boot_id:
        return boot.boot_id
    digest = hashlib.sha256(text[boot.start : min(boot.end, boot.start + 65536)]).hexdigest()
    return str(uuid.uuid5(_NAMESPACE, f"{host}\0{digest}"))


def records_from_log(scanned: ScannedLog, host: str) -> tuple[list[BootRecord], list[CrashRecord]]:
    """Boot and crash records of one scanned log of ``host``."""
    text = scanned.log.text
    boots: list[Boot] = []
    records = []
    recorded = Followers()
    for log_boot in scanned.boots:
        before = scanned.boots[log_boot.index - 1] if log_boot.index else None
        # A log that ends in a kexec, then this boot's banner: the boot it followed.
        previous = boots[-1] if before is not None and before.ended in ("kexec", "kdump") else None
        sighting = log_boot.sighting(host, _boot_id(host, text, log_boot), previous, recorded)
        boot = reconcile(sighting)
        recorded.add(boot.boot_id)
        boots.append(boot)
        uptime = uptime_seconds(text, log_boot)
        hours = None if uptime is None else uptime / 3600
        records.append(BootRecord(boot, hours=hours, facts=log_boot.facts))
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


@dataclass(frozen=True, slots=True)
class Ingested:
    """What ingesting some files stored: files read, boots and crashes new to the store."""

    files: int = 0
    boots: int = 0
    crashes: int = 0


def ingest_files(
    store: Store,
    paths: Sequence[Path],
    fmt: str | None = None,
    host: str | None = None,
    progress: Callable[[Ingested], None] | None = None,
) -> Ingested:
    """Store the boots and crashes of the logs in ``paths``, one file at a time, but the
    pstore records, which are read together so that the parts of one dump are joined.

    A log names its host, else ``host``, else its file's stem is taken.

    :raises InputError, LogError: a file that cannot be read as a log.
    :raises StoreError: the store refused the records.
    """
    stems = {str(path): path.stem for path in paths}
    done = Ingested()

    def store_logs(logs: list[ConsoleLog], files: int) -> None:
        nonlocal done
        boots = crashes = 0
        for log in logs:
            # A joined pstore dump is named for its parts, "a+b": the first names it.
            stem = stems.get(log.origin) or Path(log.origin.partition("+")[0]).stem
            boot_records, crash_records = records_from_log(scan(log), log.host or host or stem)
            boots += store.ingest_boots(boot_records).inserted
            crashes += store.ingest_crashes(crash_records).inserted
        done = Ingested(done.files + files, done.boots + boots, done.crashes + crashes)
        if progress is not None:
            progress(done)

    pstore: list[tuple[str, bytes]] = []
    for path in paths:
        data = read_bytes(path, MAX_LOG_SIZE)
        kind = fmt or detect_format(data, str(path))
        if kind == "pstore":
            pstore.append((str(path), data))  # records of a few KiB each
            continue
        store_logs(read_logs([(str(path), data)], kind), 1)
    if pstore:
        store_logs(read_logs(pstore, "pstore"), len(pstore))
    return done
