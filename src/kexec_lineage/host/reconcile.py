"""
Reconciliation
--------------

Turns a :class:`~kexec_lineage.host.probe.Probe` into one
:class:`~kexec_lineage.model.boot.Boot`. Pure: values in, value out.

Which source wins, and why:

- The previous release comes from KHO first (the kernel's own record of the
  kernel it replaced), then our command-line parameters, then the previous
  kernel's pstore log, then the ledger.
- The kexec count is the larger of KHO's and ours. KHO's count restarts at 1
  whenever the KHO ABI changes (a kho-v3 kernel kexecing into a kho-v4 kernel
  is rejected and behaves as if cold-booted) or a kernel without
  kexec-metadata sits in the chain; our parameters carry the longer chain
  across both.
- Our parameters are stale, and ignored, when they name this very boot, when
  the boot they name is followed by another in the ledger (something booted
  in between), or when the previous kernel's log says it rebooted.
- A crash kernel (``elfcorehdr=`` on the command line, or ``/proc/vmcore``)
  is ``kdump``.
- A kernel with KHO on (``kho/out``) that received nothing (no ``kho/in``,
  no handover found or refused in its log) says the boot was cold. Where other
  evidence says kexec, both stay on record and the disagreement is named:
  the kexec before it did not carry KHO (a kernel without KHO, ``kexec_load``
  or a KHO ABI change), which is exactly what our parameters are for.
"""

from __future__ import annotations

from kexec_lineage.host.probe import Probe, PstoreDump
from kexec_lineage.model.boot import Boot, Evidence

__all__ = ("reconcile",)

_U32_MASK = 0xFFFF_FFFF


def _kho_evidence(probe: Probe) -> list[Evidence]:
    kho = probe.kho
    out = []
    if kho.handover is not None:
        out.append(
            Evidence(
                "kho",
                True,
                kho.handover.previous_release,
                kho.handover.kexec_count,
                detail="kexec-metadata in kho/in/sub_fdts",
            )
        )
    elif kho.blob_error is not None:
        out.append(Evidence("kho", True, detail=f"kexec-metadata rejected: {kho.blob_error}"))
    if kho.log_exec_from is not None:
        out.append(
            Evidence(
                "kho-log",
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
        out.append(Evidence("kho-log", True, detail=f"KHO refused the incoming state: {reason}"))
    elif "found kexec handover data." in kho.log_lines and not out:
        # The kernel took a handover and then showed nothing of it: the kernel before had
        # no kexec-metadata, or a later step of KHO failed. A kexec all the same.
        out.append(Evidence("kho-log", True, detail="KHO found kexec handover data, no metadata"))
    elif kho.active and not kho.incoming and not out:
        out.append(Evidence("kho", False, detail="KHO is on and received no handover: cold"))
    return out


def _stale(probe: Probe, previous_dump: PstoreDump | None) -> str | None:
    """Why our parameters on this command line cannot be believed, if they cannot."""
    params = probe.params
    if not params.present:
        return None
    if params.boot == probe.identity.boot_id:
        return f"kexec_lineage.boot={params.boot} names this boot"
    recorded = [b.boot_id for b in probe.history]
    if params.boot in recorded and recorded[-1] != params.boot:
        later = recorded[recorded.index(params.boot) + 1]
        return f"kexec_lineage.boot={params.boot} is followed by boot {later} in the ledger"
    if previous_dump is not None and previous_dump.ended in ("reboot", "poweroff", "halt"):
        return f"the previous kernel's log (pstore) ends in {previous_dump.ended}"
    return None


def _previous_dump(probe: Probe) -> PstoreDump | None:
    """The newest pstore dump not harvested before, if any."""
    fresh = probe.new_dumps
    return fresh[-1] if fresh else None


def reconcile(probe: Probe) -> Boot:
    """The boot ``probe`` describes, with its evidence and the disagreements."""
    identity = probe.identity
    evidence = _kho_evidence(probe)
    disagreements: list[str] = []
    last = probe.history[-1] if probe.history else None
    dump = _previous_dump(probe)
    params = probe.params

    stale = _stale(probe, dump)
    if stale is not None:
        disagreements.append(f"ignored stale command-line parameters: {stale}")
        evidence.append(Evidence("cmdline", None, params.prev, params.count, params.boot, stale))
    elif params.present:
        evidence.append(
            Evidence("cmdline", True, params.prev, params.count, params.boot, "kexec_lineage.*")
        )
    if dump is not None and dump.reason == "shutdown":
        ended_in_kexec = dump.ended == "kexec"
        evidence.append(
            Evidence(
                "pstore",
                ended_in_kexec or (False if dump.ended else None),
                dump.release,
                detail=f"previous kernel's log ({dump.origin}) ends in {dump.ended or 'nothing'}",
            )
        )
    if last is not None:
        evidence.append(
            Evidence(
                "ledger",
                None,
                last.release,
                previous_boot_id=last.boot_id,
                detail=f"last recorded boot: {last.how} {last.release} (count {last.kexec_count})",
            )
        )
    if probe.crash_kernel:
        evidence.append(Evidence("kdump", True, detail="crash kernel (elfcorehdr=/proc/vmcore)"))

    kexec = any(e.kexec for e in evidence)
    how = "kdump" if probe.crash_kernel else ("kexec" if kexec else "cold")
    if kexec and any(e.kexec is False and e.source == "kho" for e in evidence):
        saying = ", ".join(dict.fromkeys(e.source for e in evidence if e.kexec))
        disagreements.append(
            f"KHO says this boot was cold, {saying} says kexec: the kexec before it did not "
            "carry KHO (a kernel without KHO, kexec_load, or a KHO ABI change); took kexec"
        )
    if how == "cold":
        return Boot(
            identity.host,
            identity.boot_id,
            identity.release,
            "cold",
            machine_id=identity.machine_id,
            evidence=tuple(evidence),
            disagreements=tuple(disagreements),
        )

    believed = [e for e in evidence if e.kexec]
    kho_count = next(
        (
            e.kexec_count
            for e in believed
            if e.source.startswith("kho") and e.kexec_count is not None
        ),
        None,
    )
    our_count = next((e.kexec_count for e in believed if e.source == "cmdline"), None)
    ledger_count = (last.kexec_count + 1) & _U32_MASK if last is not None else None
    count = _choose_count(kho_count, our_count, ledger_count, disagreements)

    releases = [
        (e.source, e.previous_release)
        for e in [*believed, *(e for e in evidence if e.source == "ledger")]
        if e.previous_release
    ]
    previous_release = releases[0][1] if releases else None
    for source, release in releases[1:]:
        if release != previous_release and source != "ledger":
            disagreements.append(
                f"{source} says the previous release was {release}; took "
                f"{releases[0][0]}'s {previous_release}"
            )
    previous_boot_id = (
        our_boot
        if (our_boot := _believed_boot(believed))
        else (last.boot_id if last is not None else None)
    )
    return Boot(
        identity.host,
        identity.boot_id,
        identity.release,
        how,
        previous_release,
        count,
        previous_boot_id,
        identity.machine_id,
        tuple(evidence),
        tuple(disagreements),
    )


def _believed_boot(believed: list[Evidence]) -> str | None:
    return next((e.previous_boot_id for e in believed if e.previous_boot_id), None)


def _choose_count(
    kho: int | None, ours: int | None, ledger: int | None, disagreements: list[str]
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
    for count in (kho, ours, ledger):
        if count is not None:
            return count
    return 1
