"""
Probe
-----

Gathers every piece of evidence of how this boot came to be, each from its
own source under the system root: our parameters on ``proc/cmdline``, KHO's
debugfs, the kernel log (``dev/kmsg``), pstore, the ledger, and the host's
facts. A source that
fails leaves a note naming the error class and the next one is read anyway:
this runs at boot on every server and must not stop for one broken file.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kexec_lineage.abi import kexec_metadata
from kexec_lineage.abi.cmdline import parse_params, split_cmdline
from kexec_lineage.errors import MetadataError
from kexec_lineage.host.facts import read_facts
from kexec_lineage.host.files import Problems, read_bytes
from kexec_lineage.host.identity import Identity, read_identity, read_started_at, read_text
from kexec_lineage.host.kho_debugfs import DEBUGFS_KHO
from kexec_lineage.host.ledger import Ledger
from kexec_lineage.logs.boots import split_boots, uptime_seconds
from kexec_lineage.logs.kmsg import from_kmsg
from kexec_lineage.logs.sources import read_logs
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.crash import Crash
from kexec_lineage.model.lineage import KhoEvidence, LineageParams

__all__ = ("Probe", "PstoreDump", "probe", "read_kmsg")

PSTORE = Path("sys/fs/pstore")


@dataclass(frozen=True, slots=True)
class PstoreDump:
    """One dump the previous boot left in pstore."""

    reason: str
    origin: str
    digest: str
    release: str | None
    cmdline: str | None
    params: LineageParams
    ended: str | None
    crashes: tuple[Crash, ...]
    #: the dumped boot's last kernel time stamp (seconds): its uptime when it crashed
    uptime: float | None = None


@dataclass(frozen=True, slots=True)
class Probe:
    identity: Identity
    cmdline: str | None
    params: LineageParams
    crash_kernel: bool
    kho: KhoEvidence
    pstore: tuple[PstoreDump, ...]
    #: recorded boots before this one, oldest first
    history: tuple[Boot, ...]
    #: this boot as the ledger has it, if it was recorded already
    recorded: Boot | None
    #: digests of pstore dumps already harvested
    harvested: frozenset[str]
    #: wall-clock start of this boot, and of the last recorded boot before it
    started_at: float | None = None
    previous_start: float | None = None
    #: the host's facts (:mod:`kexec_lineage.host.facts`)
    facts: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = field(default=())

    @property
    def new_dumps(self) -> list[PstoreDump]:
        """The pstore dumps not harvested before."""
        return [dump for dump in self.pstore if dump.digest not in self.harvested]


def read_kmsg(path: Path) -> bytes:
    """``/dev/kmsg`` read to its current end without blocking (or a saved copy)."""
    if not stat.S_ISCHR(path.stat().st_mode):
        return read_bytes(path)
    chunks = []
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        while True:
            try:
                chunk = os.read(fd, 16384)  # one record per read
            except BlockingIOError:
                break
            except BrokenPipeError:
                continue  # records overwritten while we read: go on with the next
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def _kho(root: Path) -> KhoEvidence:
    base = root / DEBUGFS_KHO
    handover = blob_error = None
    blob = base / "in/sub_fdts" / kexec_metadata.NODE_NAME
    if blob.is_file():
        try:
            handover = kexec_metadata.decode(read_bytes(blob))
        except MetadataError as exc:
            blob_error = str(exc)
    return KhoEvidence(
        debugfs=base.is_dir(),
        active=(base / "out").is_dir(),
        incoming=(base / "in").is_dir(),
        handover=handover,
        blob_error=blob_error,
    )


def _kho_log(root: Path, kho: KhoEvidence) -> KhoEvidence:
    kmsg = root / "dev/kmsg"
    if not kmsg.exists():
        return kho
    logs = from_kmsg(read_kmsg(kmsg))
    if not logs:
        return kho
    current = split_boots(logs[0])[-1]
    return replace(
        kho,
        log_lines=current.kho_lines,
        log_exec_from=current.kho_exec_from,
        log_count=current.kho_count,
    )


def _pstore(root: Path) -> tuple[PstoreDump, ...]:
    folder = root / PSTORE
    if not folder.is_dir():
        return ()
    files = [
        (str(p), read_bytes(p))
        for p in sorted(folder.iterdir())
        if p.name.startswith("dmesg-") and p.is_file()
    ]
    if not files:
        return ()
    # The crash tables take a third of record's start-up; most boots find no dump.
    from kexec_lineage.logs.crash_report import parse_crashes

    dumps = []
    for log in read_logs(files, "pstore"):
        boots = split_boots(log)
        last = boots[-1]
        dumps.append(
            PstoreDump(
                reason=log.source.partition(":")[2],
                origin=log.origin,
                digest=hashlib.sha256(log.text).hexdigest(),
                release=last.release,
                cmdline=last.cmdline,
                params=last.params,
                ended=last.ended,
                crashes=tuple(parse_crashes(log.text)),
                uptime=uptime_seconds(log.text, last),
            )
        )
    return tuple(dumps)


def probe(root: Path, ledger: Ledger) -> Probe:
    """Everything the host shows about this boot.

    :raises InputError: no identity under ``root``; every other source only
        leaves a problem note when it fails.
    """
    identity = read_identity(root)
    problems = Problems()
    attempt = problems.attempt
    cmdline = attempt("cmdline", lambda: read_text(root, "proc/cmdline"), None)
    words = split_cmdline(cmdline or "")
    crash_kernel = (
        any(w.startswith("elfcorehdr=") for w in words) or (root / "proc/vmcore").exists()
    )
    kho = attempt("kho debugfs", lambda: _kho(root), KhoEvidence())
    kho = attempt("kernel log", lambda: _kho_log(root, kho), kho)
    entries: list[dict[str, Any]] = attempt("ledger", ledger.entries, [])
    boots = Ledger.boots_in(entries)
    history = tuple(b for b in boots if b.boot_id != identity.boot_id)
    recorded = next((b for b in boots if b.boot_id == identity.boot_id), None)
    harvested = frozenset(str(e.get("digest")) for e in entries if e.get("type") == "pstore")
    facts, fact_problems = read_facts(root)
    return Probe(
        identity=identity,
        cmdline=cmdline,
        params=parse_params(cmdline or ""),
        crash_kernel=crash_kernel,
        kho=kho,
        pstore=attempt("pstore", lambda: _pstore(root), ()),
        history=history,
        recorded=recorded,
        harvested=harvested,
        started_at=attempt("boot clock", lambda: read_started_at(root), None),
        previous_start=Ledger.start_of(entries, history[-1].boot_id) if history else None,
        facts=facts,
        problems=(*problems.lines, *fact_problems),
    )
