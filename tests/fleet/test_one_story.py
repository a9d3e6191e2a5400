"""The host agent and log ingest tell the same story about the same boots.

One chain of boots is recorded twice: by the agent, from copied system trees
(debugfs, /dev/kmsg, /proc/cmdline, pstore, the ledger), and by log ingest,
from the console log of the same boots. Both go through
:mod:`kexec_lineage.model.lineage`, so each boot comes out the same: how it
began, the release before it, its kexec count, the boot before it, and what
the sources both can see (the kernel's KHO lines, our parameters) say.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kexec_lineage.abi.kho_boot import KhoImage
from kexec_lineage.fleet.ingest import records_from_log
from kexec_lineage.host.record import State, record
from kexec_lineage.logs.console import ConsoleLog
from kexec_lineage.logs.scan import scan
from kexec_lineage.model.boot import Boot
from tests.host.test_reconcile import params, shutdown_record
from tests.host.trees import Tree
from tests.logs.builders import console

KEXEC = ("kexec_core: Starting new kernel",)
REBOOT = ("reboot: Restarting system",)
CRASH = ("Kernel panic - not syncing: Oops: Fatal exception", "Starting crashdump kernel...")


@dataclass
class Chain:
    """Boots recorded by the agent, and the console log the same boots printed."""

    root: Path
    boots: list[Boot]
    log: bytes = b""

    def boot(
        self,
        release: str,
        cmdline: str = "BOOT_IMAGE=/vmlinuz root=/dev/vda1 console=ttyS0",
        *,
        kho: str | None = None,
        incoming: KhoImage | None = None,
        pstore: bytes | None = None,
        ending: tuple[str, ...] = KEXEC,
    ) -> tuple[Tree, KhoImage | None]:
        tree = Tree(self.root, release, cmdline)
        handoff = None
        if kho is not None:
            handoff = tree.kho_boot(incoming, kho=kho)
        else:
            tree.kmsg([f"Linux version {release} (b@h) (gcc) #1 SMP", f"Command line: {cmdline}"])
        if pstore is not None:
            tree.pstore(f"dmesg-ramoops-{len(self.boots)}", pstore)
        self.boots.append(record(self.root, State(self.root / "var/lib/kexec-lineage")).boot)
        lines = [
            line.split(";", 1)[1] for line in (self.root / "dev/kmsg").read_text().splitlines()
        ]
        self.log += console([*lines, *ending])
        return tree, handoff


def chain(root: Path) -> Chain:
    """Cold, kexec with KHO, a KHO ABI change, KHO's count restarted, a kexec outside
    our wrapper (only the previous kernel's log tells), a reboot with stale
    parameters, a crash into kdump."""
    c = Chain(root, [])
    a, state_a = c.boot("7.1.0", kho="kho-v3")
    b, state_b = c.boot("7.1.2", params("7.1.0", 1, a.boot_id), kho="kho-v3", incoming=state_a)
    v4, state_c = c.boot("7.2.0", params("7.1.2", 2, b.boot_id), kho="kho-v4", incoming=state_b)
    c.boot("7.2.1", params("7.2.0", 3, v4.boot_id), kho="kho-v4", incoming=state_c)
    left = shutdown_record("7.2.1", KEXEC[0])
    e, _ = c.boot("7.2.1", pstore=left, ending=REBOOT)
    stale = params("7.2.1", 5, e.boot_id)
    c.boot("7.2.2", stale, pstore=shutdown_record("7.2.1", REBOOT[0]), ending=CRASH)
    c.boot("7.2.2", "irqpoll nr_cpus=1 reset_devices elfcorehdr=0x7f000000", ending=())
    return c


def lineage(boots: list[Boot]) -> list[tuple[object, ...]]:
    """What the story of each boot is, the boot before it named by its place in the chain."""
    place = {b.boot_id: i for i, b in enumerate(boots)}
    return [
        (
            b.host,
            b.release,
            b.how,
            b.previous_release,
            b.kexec_count,
            place.get(b.previous_boot_id or ""),
            # what both paths read: the kernel's KHO lines and our parameters
            [
                (e.source, e.kexec, e.previous_release, e.kexec_count, e.detail)
                for e in b.evidence
                if e.source in ("kho-log", "cmdline") and e.kexec
            ],
        )
        for b in boots
    ]


def test_agent_and_ingest_tell_the_same_story(tmp_path: Path) -> None:
    recorded = chain(tmp_path)
    records, _ = records_from_log(scan(ConsoleLog(recorded.log, "console")), "web-1")
    ingested = [r.boot for r in records]
    assert lineage(ingested) == lineage(recorded.boots)
    assert [(b.how, b.previous_release, b.kexec_count) for b in recorded.boots] == [
        ("cold", None, 0),
        ("kexec", "7.1.0", 1),
        ("kexec", "7.1.2", 2),
        ("kexec", "7.2.0", 3),
        ("kexec", "7.2.1", 4),
        ("cold", None, 0),
        ("kdump", "7.2.2", 1),
    ]
    # The count the kernel restarted at the ABI change is named the same way by both.
    restarted = [d for d in recorded.boots[3].disagreements if "restarted" in d]
    assert restarted and restarted == [d for d in ingested[3].disagreements if "restarted" in d]
    # The stale parameters after the reboot are ignored by both, each saying where it read so.
    assert recorded.boots[5].disagreements == (
        "ignored stale command-line parameters: the previous kernel's log (pstore) ends in reboot",
    )
    assert ingested[5].disagreements == (
        "ignored stale command-line parameters: the previous kernel's log (earlier in the same "
        "log) ends in reboot",
    )
