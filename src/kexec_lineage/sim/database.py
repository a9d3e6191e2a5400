"""
Database
--------

A simulated fleet as rows of a fleet database, as the host agent would have
shipped them after reconciliation: each boot as :mod:`kexec_lineage.sim.walk`
reconciled it, with its host's facts as the agent reads them, and the
crashes that :func:`~kexec_lineage.logs.crash_report.parse_crashes` makes of
each simulated report, as the agent would harvest them. They go in through
:meth:`kexec_lineage.fleet.store.Store.load`; this module needs no database
library of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from kexec_lineage.logs.crash_report import parse_crashes
from kexec_lineage.model.wire import BootRecord, CrashRecord
from kexec_lineage.sim.fleet import EPOCH, Fleet
from kexec_lineage.sim.walk import WalkedBoot, console_output, timed_report, walk

if TYPE_CHECKING:
    from kexec_lineage.fleet.store import Store

__all__ = ("write_db",)


def _crash_records(view: WalkedBoot) -> list[CrashRecord]:
    """What the agent harvests from the boot's crash reports."""
    record = view.record
    return [
        CrashRecord(record.host, record.boot_id, crash, "console", record.release)
        for c in view.crashes
        for crash in parse_crashes(console_output(timed_report(view, c)))
    ]


def _records(
    fleet: Fleet, progress: Callable[[int], None] | None
) -> Iterator[BootRecord | CrashRecord]:
    """Each host's boots and their crashes, host by host; ``progress`` after each host."""
    for host, walked in walk(fleet):
        facts = fleet.host_facts(host)
        for view in walked:
            yield BootRecord(view.record, EPOCH + view.start * 3600, view.hours, facts)
            yield from _crash_records(view)
        if progress is not None:
            progress(host + 1)


def write_db(fleet: Fleet, store: Store, progress: Callable[[int], None] | None = None) -> None:
    """Store the fleet's hosts, boots and crashes in two transactions of large INSERTs.

    :raises InputError: the database holds a host of this fleet already.
    :raises StoreError: the database refused them.
    """
    from kexec_lineage.fleet.store import HostRecord  # the store needs SQLAlchemy

    now = EPOCH + fleet.days * 24 * 3600
    hosts = [HostRecord(fleet.host_name(host), EPOCH, now) for host in range(fleet.hosts)]
    store.load(hosts, _records(fleet, progress), now)
