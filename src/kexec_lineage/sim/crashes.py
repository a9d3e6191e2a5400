"""
Simulated crashes
-----------------

The crashes the fleet simulator injects: a :class:`Signature` is a kind of
kernel report (KASAN, WARNING, general protection fault, ...) and the
function it blames, and :func:`report_lines` writes the console lines a
kernel prints for it. The templates follow real x86 reports closely enough
that :func:`kexec_lineage.logs.crash_report.parse_crashes` titles each with
:attr:`Signature.title`; a fatal report ends in ``Kernel panic - not
syncing: Fatal exception``, which syzkaller titles as a crash of its own
(:data:`PANIC_TITLE`). The simulator counts it too, so that its records
agree with what the logs give.

Two title pools: :data:`NOISE`, the everyday crashes of a fleet with their
relative frequencies, and :data:`BUGS`, from which the seed picks the
injected faults (handover code, firmware tables, devices left in a bad
state by the previous kernel).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("BUGS", "NOISE", "PANIC_TITLE", "Signature", "report_length", "report_lines")

#: The title syzkaller gives the panic line that ends a fatal report.
PANIC_TITLE = "kernel panic: Fatal exception"

_MODULES = "Modules linked in: nft_chain_nat nf_nat bridge stp llc ice mlx5_core nvme"
_TASK = "CPU: {cpu} UID: 0 PID: {pid} Comm: {comm} Not tainted {release} #1 PREEMPT(voluntary)"
_RIP = "RIP: 0010:{func}+0x1a4/0x3c0"
_CODE = "Code: 48 8b 45 00 48 85 c0 74 0d 48 8b 50 08 48 39 d3 75 e4 <48> 8b 02 5b 5d c3 cc cc"
_RSP = "RSP: 0018:ffffc90000a3bd80 EFLAGS: 00010246"
_WORKER_STACK = (
    "Call Trace:",
    " <TASK>",
    " process_one_work+0x176/0x330",
    " worker_thread+0x252/0x390",
    " kthread+0xf3/0x120",
    " ret_from_fork+0x34/0x50",
    " </TASK>",
)
_OOPS_TAIL = (
    _MODULES,
    "---[ end trace 0000000000000000 ]---",
    _RIP,
    "Kernel panic - not syncing: Fatal exception",
    "Kernel Offset: 0x1e000000 from 0xffffffff81000000 "
    "(relocation range: 0xffffffff80000000-0xffffffffbfffffff)",
)


def _kasan(bug: str, access: str) -> tuple[str, ...]:
    return (
        "==================================================================",
        f"BUG: KASAN: {bug} in {{func}}+0x1a4/0x3c0",
        f"{access} of size 8 at addr ffff88810a3c7e40 by task {{comm}}/{{pid}}",
        "",
        _TASK,
        "{hardware}",
        "Call Trace:",
        " <TASK>",
        " dump_stack_lvl+0x5d/0x80",
        " print_report+0xce/0x660",
        " kasan_report+0xd8/0x110",
        " {func}+0x1a4/0x3c0",
        *_WORKER_STACK[2:],
        "",
        "The buggy address belongs to the physical page:",
        "page: refcount:0 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x10a3c7",
        "==================================================================",
    )


@dataclass(frozen=True, slots=True)
class _Kind:
    title: str
    fatal: bool
    lines: tuple[str, ...]


_KINDS = {
    "kasan-uaf-read": _Kind(
        "KASAN: use-after-free Read in {func}", False, _kasan("use-after-free", "Read")
    ),
    "kasan-uaf-write": _Kind(
        "KASAN: use-after-free Write in {func}", False, _kasan("use-after-free", "Write")
    ),
    "kasan-oob-read": _Kind(
        "KASAN: slab-out-of-bounds Read in {func}", False, _kasan("slab-out-of-bounds", "Read")
    ),
    "kasan-oob-write": _Kind(
        "KASAN: slab-out-of-bounds Write in {func}", False, _kasan("slab-out-of-bounds", "Write")
    ),
    "warning": _Kind(
        "WARNING in {func}",
        False,
        (
            "------------[ cut here ]------------",
            "WARNING: CPU: {cpu} PID: {pid} at {file}:812 {func}+0x1a4/0x3c0",
            _MODULES,
            _TASK,
            "{hardware}",
            _RIP,
            "Code: 48 8b 45 00 48 85 c0 74 0d 48 8b 50 08 48 39 d3 75 e4 <0f> 0b 31 c0 5b 5d",
            _RSP,
            *_WORKER_STACK,
            "---[ end trace 0000000000000000 ]---",
        ),
    ),
    "gpf": _Kind(
        "general protection fault in {func}",
        True,
        (
            "Oops: general protection fault, probably for non-canonical address "
            "0xdead000000000122: 0000 [#1] SMP NOPTI",
            _TASK,
            "{hardware}",
            _RIP,
            _CODE,
            _RSP,
            *_WORKER_STACK,
            *_OOPS_TAIL,
        ),
    ),
    "paging": _Kind(
        "BUG: unable to handle kernel paging request in {func}",
        True,
        (
            "BUG: unable to handle page fault for address: ffffc90000a3b000",
            "#PF: supervisor read access in kernel mode",
            "#PF: error_code(0x0000) - not-present page",
            "PGD 100000067 P4D 100000067 PUD 1001c5067 PMD 10a2f1067 PTE 0",
            "Oops: Oops: 0000 [#1] SMP NOPTI",
            _TASK,
            "{hardware}",
            _RIP,
            _CODE,
            _RSP,
            *_WORKER_STACK,
            "CR2: ffffc90000a3b000",
            *_OOPS_TAIL,
        ),
    ),
    "hung": _Kind(
        "INFO: task hung in {func}",
        False,
        (
            "INFO: task {comm}:{pid} blocked for more than 122 seconds.",
            "      Not tainted {release} #1",
            '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.',
            "task:{comm} state:D stack:0 pid:{pid} tgid:{pid} ppid:2 flags:0x00004000",
            "Call Trace:",
            " <TASK>",
            " __schedule+0x3f1/0xc80",
            " schedule+0x27/0xf0",
            " schedule_timeout+0x15d/0x170",
            " wait_for_completion+0x86/0x170",
            " {func}+0x1a4/0x3c0",
            *_WORKER_STACK[2:],
        ),
    ),
    "soft-lockup": _Kind(
        "BUG: soft lockup in {func}",
        False,
        (
            "watchdog: BUG: soft lockup - CPU#{cpu} stuck for 26s! [{comm}:{pid}]",
            _MODULES,
            _TASK,
            "{hardware}",
            _RIP,
            "Code: 48 8b 45 00 48 85 c0 74 0d 48 8b 50 08 48 39 d3 75 e4 <f3> 90 5b 5d c3 cc",
            "RSP: 0018:ffffc90000a3bd80 EFLAGS: 00000202",
            *_WORKER_STACK,
        ),
    ),
}


@dataclass(frozen=True, slots=True)
class Signature:
    """A crash as the simulator injects it: a report kind and the function it blames.

    ``file`` is the source file a WARNING names (other kinds ignore it).
    """

    kind: str
    func: str
    file: str = "kernel/liveupdate/kexec_handover.c"

    @property
    def title(self) -> str:
        """The title syzkaller gives the report."""
        return _KINDS[self.kind].title.format(func=self.func)

    @property
    def fatal(self) -> bool:
        """Whether the report ends the boot in a panic."""
        return _KINDS[self.kind].fatal


def report_length(signature: Signature) -> int:
    """How many lines :func:`report_lines` gives for ``signature``."""
    return len(_KINDS[signature.kind].lines)


def report_lines(
    signature: Signature, *, pid: int, cpu: int, release: str, hardware: str
) -> list[str]:
    """The kernel's messages for one crash of ``signature``, panic included if fatal."""
    comm = f"kworker/{cpu}:{pid % 4}"
    fields = {
        "func": signature.func,
        "file": signature.file,
        "pid": pid,
        "cpu": cpu,
        "comm": comm,
        "release": release,
        "hardware": f"Hardware name: {hardware}",
    }
    return [line.format(**fields) for line in _KINDS[signature.kind].lines]


#: Everyday crashes of a fleet and their relative frequencies.
NOISE: tuple[tuple[Signature, float], ...] = (
    (Signature("warning", "dev_watchdog", "net/sched/sch_generic.c"), 10.0),
    (Signature("hung", "jbd2_journal_commit_transaction"), 7.0),
    (Signature("warning", "nvme_timeout", "drivers/nvme/host/pci.c"), 5.0),
    (Signature("gpf", "tcp_sendmsg_locked"), 4.0),
    (Signature("soft-lockup", "nvme_poll_cq"), 3.5),
    (Signature("hung", "btrfs_commit_transaction"), 3.0),
    (Signature("paging", "ext4_find_extent"), 2.5),
    (Signature("kasan-oob-read", "ext4_xattr_set_entry"), 2.0),
    (Signature("warning", "iomap_page_release", "fs/iomap/buffered-io.c"), 2.0),
    (Signature("gpf", "nf_conntrack_tuple_taken"), 1.5),
    (Signature("hung", "xfs_log_force_seq"), 1.5),
    (Signature("kasan-uaf-read", "tcp_retransmit_timer"), 1.0),
    (Signature("paging", "ixgbe_clean_rx_irq"), 1.0),
    (Signature("soft-lockup", "mlx5e_napi_poll"), 1.0),
    (Signature("warning", "ext4_evict_inode", "fs/ext4/inode.c"), 0.8),
    (Signature("kasan-uaf-write", "sk_psock_destroy"), 0.5),
)

#: Faults a previous kernel can leave behind, from which the seed picks the injected bugs.
BUGS: tuple[Signature, ...] = (
    Signature("kasan-uaf-read", "kho_mem_deserialize"),
    Signature("warning", "kho_restore_folio"),
    Signature("gpf", "kho_radix_walk_tree"),
    Signature("hung", "ice_reset_all_vfs"),
    Signature("warning", "iommu_dma_init_domain", "drivers/iommu/dma-iommu.c"),
    Signature("kasan-oob-write", "luo_file_finish"),
    Signature("soft-lockup", "mlx5_cmd_exec"),
    Signature("paging", "acpi_tb_verify_temp_table"),
    Signature("warning", "efi_mem_reserve_persistent", "drivers/firmware/efi/efi.c"),
    Signature("hung", "nvme_dev_disable"),
    Signature("kasan-uaf-write", "memblock_free_late"),
    Signature("warning", "kho_preserve_folio"),
)
