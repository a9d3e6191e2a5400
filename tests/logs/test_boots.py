"""Boots in logs: segmentation, how each started and ended, KHO lines, our parameters."""

from __future__ import annotations

import itertools
from pathlib import Path

from kexec_lineage.logs.boots import split_boots
from kexec_lineage.logs.console import ConsoleLog
from kexec_lineage.logs.sources import read_logs
from tests.logs.builders import console, kernel_boot

BOOT_ID = "0f5b6c1e-3a9d-4c1b-9e58-6f2d0b7a1c44"


def chain_log() -> bytes:
    first, state = kernel_boot("7.1.0")
    second, state = kernel_boot(
        "7.1.2",
        "console=ttyS0 kexec_lineage.prev=7.1.0 kexec_lineage.count=1 "
        f"kexec_lineage.boot={BOOT_ID}",
        state,
    )
    third, _ = kernel_boot(
        "7.2.0",
        "console=ttyS0 kexec_lineage.prev=7.1.2 kexec_lineage.count=2",
        state,
        kho="kho-v4",
        ending=("Kernel panic - not syncing: Fatal exception", "Rebooting in 10 seconds.."),
    )
    fourth, _ = kernel_boot("7.2.0", ending=("reboot: Power down",))
    fifth, _ = kernel_boot("7.2.1", ending=())
    return b"".join(console(lines) for lines in (first, second, third, fourth, fifth))


def test_chain_segmentation() -> None:
    boots = split_boots(ConsoleLog(chain_log(), "console"))
    assert [b.release for b in boots] == ["7.1.0", "7.1.2", "7.2.0", "7.2.0", "7.2.1"]
    assert [b.started for b in boots] == ["cold", "kexec", "kexec", "cold", "cold"]
    assert [b.ended for b in boots] == ["kexec", "kexec", "panic", "poweroff", None]
    first, second, third, fourth, _ = boots
    assert first.start == 0
    assert first.kho_line is None and first.start_evidence == ()
    assert second.kho_line == "KHO: exec from: 7.1.0 (count 1)"
    assert (second.kho_exec_from, second.kho_count) == ("7.1.0", 1)
    assert second.start_evidence == (
        "KHO exec from line",
        "kexec_lineage parameters",
        "previous boot ended in kexec",
    )
    assert (second.params.prev, second.params.count, second.params.boot) == ("7.1.0", 1, BOOT_ID)
    # kho-v3 -> kho-v4: the kernel rejects the tree; only our parameters remember.
    assert third.kho_line is None
    assert third.kho_lines[-1] == "disabling KHO revival"
    assert third.kho_lines[0].startswith("setup: handover FDT (0x")
    assert (third.params.prev, third.params.count) == ("7.1.2", 2)
    assert fourth.start_evidence == ()
    assert all(a.end == b.start for a, b in itertools.pairwise(boots))


def test_stale_parameters_after_reboot_mean_cold() -> None:
    first, _ = kernel_boot("7.1.0", ending=("reboot: Restarting system",))
    second, _ = kernel_boot("7.1.0", "kexec_lineage.prev=7.0.9 kexec_lineage.count=4", kho=None)
    boots = split_boots(ConsoleLog(console(first) + console(second), "console"))
    assert boots[1].started == "cold"
    assert boots[1].start_evidence == ("previous boot ended in reboot",)
    assert boots[1].params.count == 4  # still reported, just not believed


def test_kdump_boot() -> None:
    first, _ = kernel_boot(
        "7.1.0",
        ending=("Kernel panic - not syncing: Oops", "Starting crashdump kernel...", "Bye!"),
    )
    second, _ = kernel_boot(
        "7.1.0", "irqpoll nr_cpus=1 reset_devices elfcorehdr=0x7f000000", ending=()
    )
    boots = split_boots(ConsoleLog(console(first) + console(second), "console"))
    assert boots[0].ended == "kdump"
    assert boots[1].started == "kdump"


def test_preamble_joins_first_boot_but_kernel_tail_does_not() -> None:
    lines, _ = kernel_boot("7.1.0")
    firmware = b"SeaBIOS (version 1.16.2)\nBooting from ROM...\n"
    boots = split_boots(ConsoleLog(firmware + console(lines), "console"))
    assert len(boots) == 1
    assert boots[0].start == 0 and boots[0].release == "7.1.0"
    tail = console(["systemd-shutdown[1]: Syncing filesystems", "reboot: Restarting system"])
    boots = split_boots(ConsoleLog(tail + console(lines), "console"))
    assert [b.release for b in boots] == [None, "7.1.0"]
    assert boots[0].ended == "reboot"
    assert boots[1].started == "cold"


def test_banner_echoed_by_userspace_is_not_a_boot() -> None:
    lines, _ = kernel_boot("7.1.0")
    lines.append("LAB: dmesg: [    0.000000] Linux version 9.9.9 (x@y) (gcc) #1")
    assert len(split_boots(ConsoleLog(console(lines), "console"))) == 1


def test_qemu_chain_capture(shared: Path) -> None:
    data = (shared / "corpus/qemu-kexec-chains/chain-6.12-3boots.log").read_bytes()
    (log,) = read_logs([("chain.log", data)])
    boots = split_boots(log)
    assert [b.release for b in boots] == ["6.12.95+deb12-cloud-amd64"] * 3
    assert [b.started for b in boots] == ["cold", "kexec", "kexec"]
    assert [b.ended for b in boots] == ["kexec", "kexec", "poweroff"]
    assert boots[2].cmdline is not None
    assert boots[2].cmdline.endswith("lineage.prev=6.12.95+deb12-cloud-amd64 lineage.count=2")
    # lineage.* was the lab's stand-in, not ours.
    assert not boots[2].params.present
    # The receiver's own time stamps are gone; the kernel's remain.
    assert log.text.splitlines()[3].startswith(b"[    0.000000] Linux version")
