"""
Reconciliation on a host
------------------------

A :class:`~kexec_lineage.host.probe.Probe` as the
:class:`~kexec_lineage.model.lineage.Sighting` the lineage rules take: the
rules themselves, shared with log ingest, are in
:mod:`kexec_lineage.model.lineage`. Pure: values in, value out.

The previous kernel's log is the newest pstore dump not harvested before, if
the kernel wrote it at shutdown: a dump written at a panic or an oops ends
there and says nothing of how the boot after it began.
"""

from __future__ import annotations

from kexec_lineage.host.probe import Probe
from kexec_lineage.model import lineage
from kexec_lineage.model.boot import Boot

__all__ = ("reconcile", "sighting")


def sighting(probe: Probe) -> lineage.Sighting:
    """What ``probe`` shows of this boot, for the lineage rules."""
    identity = probe.identity
    fresh = probe.new_dumps
    dump = fresh[-1] if fresh else None
    previous_log = (
        lineage.PreviousLog(lineage.PSTORE, dump.origin, dump.ended, dump.release)
        if dump is not None and dump.reason == "shutdown"
        else None
    )
    return lineage.Sighting(
        identity.host,
        identity.boot_id,
        identity.release,
        identity.machine_id,
        crash_kernel=probe.crash_kernel,
        kho=probe.kho,
        params=probe.params,
        previous_log=previous_log,
        recorded=lineage.Followers(b.boot_id for b in probe.history),
        last_recorded=probe.history[-1] if probe.history else None,
    )


def reconcile(probe: Probe) -> Boot:
    """The boot ``probe`` describes, with its evidence and the disagreements."""
    return lineage.reconcile(sighting(probe))
