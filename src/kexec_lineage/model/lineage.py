"""
Lineage
-------

How a boot came to be, decided in one place. The host agent (from a live
system) and log ingest (from console logs) both describe a boot as a
:class:`Sighting` and call :func:`reconcile`, so the two tell the same story
about the same boot, with the same evidence names. Pure: values in, value out.

Which source wins, and why:

- The previous release comes from KHO first (the kernel's own record of the
  kernel it replaced), then our command-line parameters, then the previous
  kernel's log (pstore, or the boot before in the same log), then the ledger.
- The kexec count is the larger of KHO's and ours. KHO's count restarts at 1
  whenever the KHO ABI changes (a kho-v3 kernel kexecing into a kho-v4 kernel
  is rejected and behaves as if cold-booted) or a kernel without
  kexec-metadata sits in the chain; our parameters carry the longer chain
  across both. Where neither tells, the boot before counts one more.
- Our parameters are stale, and ignored, when they name this very boot, when
  the boot they name is followed by another one recorded, or when the
  previous kernel's log says it rebooted, powered off or halted.
- A crash kernel (``elfcorehdr=`` on the command line, or ``/proc/vmcore``)
  is ``kdump``.
- A kernel with KHO on (``kho/out``) that received nothing (no ``kho/in``,
  no handover found or refused in its log) says the boot was cold. Where other
  evidence says kexec, both stay on record and the disagreement is named:
  the kexec before it did not carry KHO (a kernel without KHO, ``kexec_load``
  or a KHO ABI change), which is exactly what our parameters are for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kexec_lineage.model.boot import Boot, Evidence
from kexec_lineage.model.handover import Handover

__all__ = (
    "CMDLINE",
    "KDUMP",
    "KHO",
    "KHO_LOG",
    "LEDGER",
    "LOG",
    "PSTORE",
    "Followers",
    "KhoEvidence",
    "LineageParams",
    "PreviousLog",
    "Sighting",
    "Weighed",
    "reconcile",
    "weigh",
)

#: Evidence sources, each named for what it reads: the kexec-metadata blob KHO
#: handed over, the kernel's ``KHO:`` lines, our ``kexec_lineage.*``
#: parameters, the previous kernel's log from pstore or from earlier in the
#: same log, the host's own record of the boot before, a crash kernel.
KHO, KHO_LOG, CMDLINE, PSTORE, LOG, LEDGER, KDUMP = (
    "kho",
    "kho-log",
    "cmdline",
    "pstore",
    "log",
    "ledger",
    "kdump",
)
# How the previous kernel's log may end: into the next kernel, or through firmware.
_HANDED_ON = ("kexec", "kdump")
_STOPPED = ("reboot", "poweroff", "halt")
_U32_MASK = 0xFFFF_FFFF


@dataclass(frozen=True, slots=True)
class LineageParams:
    """Our parameters as found on one command line.

    A field is ``None`` where the parameter is absent or its value is not
    valid; ``problems`` says which values were dropped and why.
    """

    prev: str | None = None
    count: int | None = None
    boot: str | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def present(self) -> bool:
        """Whether any valid parameter was found."""
        return (self.prev, self.count, self.boot) != (None, None, None)


@dataclass(frozen=True, slots=True)
class KhoEvidence:
    """What KHO shows about a boot: its debugfs (on a live host) and its log lines."""

    #: the kernel has KHO debugfs at all
    debugfs: bool = False
    #: ``kho/out`` exists: KHO is on in this kernel
    active: bool = False
    #: ``kho/in`` exists: the kernel accepted incoming KHO state
    incoming: bool = False
    handover: Handover | None = None
    #: why the incoming kexec-metadata blob was rejected
    blob_error: str | None = None
    #: the kernel's ``KHO:`` lines, without the prefix
    log_lines: tuple[str, ...] = ()
    log_exec_from: str | None = None
    log_count: int | None = None


@dataclass(frozen=True, slots=True)
class PreviousLog:
    """The previous kernel's log: a pstore dump, or the boot before in the same log."""

    source: str
    #: where it was read (a file name)
    origin: str
    #: how it ended: ``kexec``, ``kdump``, ``reboot``, ``panic``, ...; ``None``: it stops
    ended: str | None
    release: str | None


@dataclass(frozen=True, slots=True)
class Sighting:
    """Everything known about one boot before it is reconciled."""

    host: str
    boot_id: str
    release: str
    machine_id: str | None = None
    crash_kernel: bool = False
    kho: KhoEvidence = KhoEvidence()
    params: LineageParams = LineageParams()
    previous_log: PreviousLog | None = None
    #: the boot this one directly followed, where the source shows it (a log
    #: that ends in a kexec, then this boot's banner)
    previous: Boot | None = None
    #: the boots recorded before this one: each id with the id recorded after
    #: it (``None`` for the last), so that a long history costs no scan
    recorded: Mapping[str, str | None] = field(default_factory=dict)
    #: the host's own record of the last of them (the ledger), which need not
    #: be the boot this one followed
    last_recorded: Boot | None = None


@dataclass(frozen=True, slots=True)
class Weighed:
    """The evidence of a sighting, judged: what each source says and how the boot came to be."""

    how: str
    evidence: tuple[Evidence, ...]
    disagreements: tuple[str, ...]


class Followers(dict[str, str | None]):
    """Boot ids in the order they were recorded, each with the first other id after it.

    :attr:`Sighting.recorded`, built one boot at a time by the agent's ledger
    replay and by log ingest alike. An id seen again back to back (a journal
    that names the same boot twice) is not its own follower.
    """

    __slots__ = ("_last",)

    def __init__(self, boot_ids: Iterable[str] = ()) -> None:
        super().__init__()
        self._last: str | None = None
        for boot_id in boot_ids:
            self.add(boot_id)

    def add(self, boot_id: str) -> None:
        last = self._last
        if last is not None and last != boot_id and self[last] is None:
            self[last] = boot_id
        self.setdefault(boot_id, None)
        self._last = boot_id


def _kho_evidence(kho: KhoEvidence) -> list[Evidence]:
    out = []
    if kho.handover is not None:
        out.append(
            Evidence(
                KHO,
                True,
                kho.handover.previous_release,
                kho.handover.kexec_count,
                detail="kexec-metadata in kho/in/sub_fdts",
            )
        )
    elif kho.blob_error is not None:
        out.append(Evidence(KHO, True, detail=f"kexec-metadata rejected: {kho.blob_error}"))
    if kho.log_exec_from is not None:
        out.append(
            Evidence(
                KHO_LOG,
                True,
                kho.log_exec_from,
                kho.log_count,
                detail=f"KHO: exec from: {kho.log_exec_from} (count {kho.log_count})",
            )
        )
    rejected = [line for line in kho.log_lines if "disabling KHO revival" in line]
    if rejected and kho.log_exec_from is None:
        # A handover FDT reached this kernel (so this was a kexec) but was refused,
        # as at a KHO ABI change; the kernel restarted its count.
        reason = next((line for line in kho.log_lines if line.startswith("setup:")), rejected[0])
        out.append(Evidence(KHO_LOG, True, detail=f"KHO refused the incoming state: {reason}"))
    elif "found kexec handover data." in kho.log_lines and not out:
        # The kernel took a handover and then showed nothing of it: the kernel before had
        # no kexec-metadata, or a later step of KHO failed. A kexec all the same.
        out.append(Evidence(KHO_LOG, True, detail="KHO found kexec handover data, no metadata"))
    elif kho.active and not kho.incoming and not out:
        out.append(Evidence(KHO, False, detail="KHO is on and received no handover: cold"))
    return out


def _stale(sighting: Sighting) -> str | None:
    """Why our parameters on this command line cannot be believed, if they cannot."""
    params, recorded = sighting.params, sighting.recorded
    if not params.present:
        return None
    if params.boot == sighting.boot_id:
        return f"kexec_lineage.boot={params.boot} names this boot"
    if params.boot is not None and (later := recorded.get(params.boot)) is not None:
        return f"kexec_lineage.boot={params.boot} is followed by boot {later} in the ledger"
    log = sighting.previous_log
    if log is not None and log.ended in _STOPPED:
        where = "pstore" if log.source == PSTORE else "earlier in the same log"
        return f"the previous kernel's log ({where}) ends in {log.ended}"
    return None


def weigh(sighting: Sighting) -> Weighed:
    """What each source of ``sighting`` says, which to believe, and so how the boot began."""
    evidence = _kho_evidence(sighting.kho)
    disagreements: list[str] = []
    params = sighting.params
    stale = _stale(sighting)
    if stale is not None:
        disagreements.append(f"ignored stale command-line parameters: {stale}")
        evidence.append(Evidence(CMDLINE, None, params.prev, params.count, params.boot, stale))
    elif params.present:
        evidence.append(
            Evidence(CMDLINE, True, params.prev, params.count, params.boot, "kexec_lineage.*")
        )
    log = sighting.previous_log
    if log is not None:
        says = True if log.ended in _HANDED_ON else (False if log.ended in _STOPPED else None)
        detail = f"previous kernel's log ({log.origin}) ends in {log.ended or 'nothing'}"
        evidence.append(Evidence(log.source, says, log.release, detail=detail))
    last = sighting.last_recorded
    if last is not None:
        evidence.append(
            Evidence(
                LEDGER,
                None,
                last.release,
                previous_boot_id=last.boot_id,
                detail=f"last recorded boot: {last.how} {last.release} (count {last.kexec_count})",
            )
        )
    if sighting.crash_kernel:
        evidence.append(Evidence(KDUMP, True, detail="crash kernel (elfcorehdr=/proc/vmcore)"))

    kexec = any(e.kexec for e in evidence)
    how = "kdump" if sighting.crash_kernel else ("kexec" if kexec else "cold")
    if kexec and any(e.kexec is False and e.source == KHO for e in evidence):
        saying = ", ".join(dict.fromkeys(e.source for e in evidence if e.kexec))
        disagreements.append(
            f"KHO says this boot was cold, {saying} says kexec: the kexec before it did not "
            "carry KHO (a kernel without KHO, kexec_load, or a KHO ABI change); took kexec"
        )
    return Weighed(how, tuple(evidence), tuple(disagreements))


def reconcile(sighting: Sighting) -> Boot:
    """The boot ``sighting`` describes, with its evidence and the disagreements."""
    weighed = weigh(sighting)
    evidence, disagreements = weighed.evidence, list(weighed.disagreements)
    if weighed.how == "cold":
        return Boot(
            sighting.host,
            sighting.boot_id,
            sighting.release,
            "cold",
            machine_id=sighting.machine_id,
            evidence=evidence,
            disagreements=weighed.disagreements,
        )
    believed = [e for e in evidence if e.kexec]
    kho_count = next(
        (
            e.kexec_count
            for e in believed
            if e.source in (KHO, KHO_LOG) and e.kexec_count is not None
        ),
        None,
    )
    our_count = next((e.kexec_count for e in believed if e.source == CMDLINE), None)
    before = sighting.previous or sighting.last_recorded
    before_count = (before.kexec_count + 1) & _U32_MASK if before is not None else None
    count = _choose_count(kho_count, our_count, before_count, disagreements)

    releases = [
        (e.source, e.previous_release)
        for e in [*believed, *(e for e in evidence if e.source == LEDGER)]
        if e.previous_release
    ]
    previous_release = releases[0][1] if releases else None
    for source, release in releases[1:]:
        if release != previous_release and source != LEDGER:
            disagreements.append(
                f"{source} says the previous release was {release}; took "
                f"{releases[0][0]}'s {previous_release}"
            )
    # The boot a log shows just before this one is certain; the ledger's last
    # boot is only the last one recorded, so our parameters' come first.
    named = next((e.previous_boot_id for e in believed if e.previous_boot_id), None)
    last = sighting.last_recorded
    previous_boot_id = (
        sighting.previous.boot_id
        if sighting.previous is not None
        else named or (last.boot_id if last is not None else None)
    )
    return Boot(
        sighting.host,
        sighting.boot_id,
        sighting.release,
        weighed.how,
        previous_release,
        count,
        previous_boot_id,
        sighting.machine_id,
        evidence,
        tuple(disagreements),
    )


def _choose_count(
    kho: int | None, ours: int | None, before: int | None, disagreements: list[str]
) -> int:
    if kho is not None and ours is not None and kho != ours:
        if ours > kho:
            disagreements.append(
                f"KHO count {kho} restarted (a KHO ABI change, or a kernel without "
                f"kexec-metadata, in the chain); kexec_lineage.count={ours} carries the "
                "longer chain: took ours"
            )
            return ours
        disagreements.append(f"kexec_lineage.count={ours} is behind KHO's count {kho}: took KHO's")
        return kho
    for count in (kho, ours, before):
        if count is not None:
            return count
    return 1
