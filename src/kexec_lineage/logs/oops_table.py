"""
Oops table
----------

Every Linux crash report syzkaller recognises, as data: the same two-level
table as ``linuxOopses`` in ``pkg/report/linux.go``. A cheap byte *header*
(``BUG:``, ``WARNING:``, ``general protection fault``, ...) finds candidate
lines; its *suppressions* reject look-alikes on that line; its *formats*,
most specific first, each pair a title regexp with a title format
(``%[n]v`` is the n-th capture, frames found by ``stack`` come last) and
catch-alls marked ``corrupted`` close each group.

The regexps are syzkaller's, with the ``{{FUNC}}``/``{{PC}}``/``{{SRC}}``
macros expanded, compiled once at import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from kexec_lineage.logs.frames import CALL_TRACE, RIP_FRAME, TRACE, StackSpec, pattern
from kexec_lineage.logs.frames import hung_task_frame as _hung_task_frame
from kexec_lineage.logs.frames import stall_frame as _stall_frame
from kexec_lineage.logs.titles import arguments_used

__all__ = (
    "HEADER_RE",
    "INFO_WITH_STACK",
    "LOG_SUPPRESSIONS",
    "OOPSES",
    "OOPS_HEADERS",
    "REPLAYED_LINE",
    "REPORT_START_IGNORES",
    "Oops",
    "OopsFormat",
    "matching_oops",
)


@dataclass(frozen=True, slots=True)
class OopsFormat:
    """One way a report under a header is titled.

    ``report``, when set, must match too (else the report is corrupted) and
    its captures replace the title's. ``no_stack_trace``: the report has no
    call trace to check for truncation.
    """

    title: re.Pattern[bytes]
    fmt: bytes
    report: re.Pattern[bytes] | None = None
    alt: tuple[bytes, ...] = ()
    stack: StackSpec | None = None
    no_stack_trace: bool = False
    corrupted: bool = False

    def __post_init__(self) -> None:
        # Checked here, once, so that rendering a title can never fail.
        arity = (self.report or self.title).groups + (self.stack.frame_count if self.stack else 0)
        for fmt in (self.fmt, *self.alt):
            if arguments_used(fmt) > arity:
                raise ValueError(f"{fmt!r} refers past its {arity} arguments")


@dataclass(frozen=True, slots=True)
class Oops:
    """A header, the line suppressions that veto it, and its formats in order."""

    header: bytes
    formats: tuple[OopsFormat, ...]
    suppressions: re.Pattern[bytes] | None = None


def _fmt(
    title: str,
    fmt: str,
    *,
    report: str | None = None,
    alt: tuple[str, ...] = (),
    stack: StackSpec | None = None,
    no_stack_trace: bool = False,
    corrupted: bool = False,
) -> OopsFormat:
    return OopsFormat(
        title=pattern(title),
        fmt=fmt.encode(),
        report=None if report is None else pattern(report),
        alt=tuple(a.encode() for a in alt),
        stack=stack,
        no_stack_trace=no_stack_trace,
        corrupted=corrupted,
    )


def _oops(header: str, *formats: OopsFormat, suppress: tuple[str, ...] = ()) -> Oops:
    joined = "|".join(f"(?:{s})" for s in suppress)
    return Oops(header.encode(), formats, pattern(joined) if suppress else None)


def _trace(*skip: str, after: re.Pattern[bytes] = CALL_TRACE) -> StackSpec:
    """The first frame of the call trace that follows ``after``."""
    return StackSpec(parts=(after, TRACE), skip=skip)


def _rip_then_trace(*skip: str) -> StackSpec:
    """The faulting function, or the first frame of the call trace if it is skipped."""
    return StackSpec(parts=(RIP_FRAME, CALL_TRACE, TRACE), skip=skip)


def _warning_stack(*skip: str) -> StackSpec:
    """The warning function: trapped at (RIP:, powerpc's ``--- interrupt:``) or atop the stack.

    Newer kernels trap into WARN(); older ones only print the stack.
    """
    trap = pattern(f"(?:{RIP_FRAME.pattern.decode()}|--- interrupt: [0-9]+ at {{{{FUNC}}}})")
    return StackSpec(parts=(trap, TRACE), fallback=(CALL_TRACE, TRACE), skip=skip)


_AT_FUNC: Final = r"(?:.*\n)+?.*at: (?:{{PC}} +)?{{FUNC}}"


def _returning_with_locks(level: str) -> OopsFormat:
    """Lockdep's report of a syscall that returns with a lock held (BUG:, later WARNING:)."""
    return _fmt(
        f"{level}: lock held when returning to user space",
        f"{level}: lock held when returning to user space in %[1]v",
        report=rf"{level}: lock held when returning to user space(?:.*\n)+?"
        r".*leaving the kernel with locks still held" + _AT_FUNC,
        no_stack_trace=True,
    )


def _bad_unlock_balance(level: str) -> OopsFormat:
    """Lockdep's report of a lock released more often than taken (BUG:, later WARNING:)."""
    return _fmt(
        f"{level}: bad unlock balance detected!",
        f"{level}: bad unlock balance in %[1]v",
        stack=StackSpec(parts=(pattern("{{PC}} +{{FUNC}}"), CALL_TRACE, TRACE)),
    )


def _suspicious_rcu_usage(level: str) -> OopsFormat:
    """Lockdep's RCU check, titled by the source line that failed it (INFO:, later WARNING:)."""
    return _fmt(
        f"{level}: suspicious RCU usage",
        f"{level}: suspicious RCU usage in %[2]v",
        report=rf"{level}: suspicious RCU usage(?:.*\n)+?.*?{{{{SRC}}}}",
        stack=_trace("rcu", "kmem", "slab"),
    )


_RIP_ONLY: Final = StackSpec(parts=(RIP_FRAME,))
_STALLED_AT_RIP: Final = StackSpec(parts=(RIP_FRAME, CALL_TRACE, TRACE), extractor=_stall_frame)
_KASAN_ACCESS: Final = r"BUG: KASAN: (?:[a-z\-]+) in {{FUNC}}"
_KASAN_FREE: Final = (
    r"BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in {{FUNC}}"
)
_KFENCE_STACK: Final = StackSpec(parts=(pattern(r"BUG: KFENCE: (?:[a-z\- ]+) in {{FUNC}}"), TRACE))
_KMSAN_ORIGIN: Final = (
    TRACE,
    pattern(r"(Local variable .* created at:|Uninit was created at:)"),
    TRACE,
)
_STACK_PROTECTOR: Final = (
    "Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: "
)
_UBSAN_SKIP: Final = ("ubsan", "overflow")
_USB_SKIP: Final = (
    "usb_submit_urb",
    "usb_start_wait_urb",
    "usb_bulk_msg",
    "usb_interrupt_msg",
    "usb_control_msg",
)

OOPSES: Final[tuple[Oops, ...]] = (
    _oops(
        "BUG:",
        _fmt(
            "BUG: KASAN:",
            "KASAN: %[1]v %[3]v in %[4]v",
            alt=("bad-access in %[4]v",),
            report=r"BUG: KASAN: ([a-z\-]+) in {{FUNC}}(?:.*\n)+?"
            r".*(Read|Write) (?:of size|at addr) (?:[0-9a-f]+)",
            # KASAN_HW_TAGS reports go through the arm64 fault path.
            stack=StackSpec(
                parts=(pattern(_KASAN_ACCESS), CALL_TRACE, TRACE),
                skip=("kernel_fault", "tag_check", "mem_abort", "^el1_", "^el1h_"),
            ),
        ),
        _fmt(
            "BUG: KASAN:",
            "KASAN: invalid-free in %[2]v",
            alt=("invalid-free in %[2]v",),
            report=_KASAN_FREE,
            stack=StackSpec(
                parts=(pattern(_KASAN_FREE), CALL_TRACE, TRACE),
                skip=("slab_", "kfree", "vunmap", "vfree"),
            ),
        ),
        _fmt(
            r"BUG: KASAN: ([a-z\-]+) on address(?:.*\n)+?.*(Read|Write) of size ([0-9]+)",
            "KASAN: %[1]v %[2]v",
        ),
        _fmt("BUG: KASAN: (.*)", "KASAN: %[1]v", corrupted=True),
        _fmt(
            "BUG: KMSAN: kernel-usb-infoleak",
            "KMSAN: kernel-usb-infoleak in %[2]v",
            report="BUG: KMSAN: kernel-usb-infoleak in {{FUNC}}",
            alt=("KMSAN origin in %[3]v",),
            stack=StackSpec(parts=_KMSAN_ORIGIN, skip=("alloc_skb", *_USB_SKIP)),
            no_stack_trace=True,
        ),
        _fmt(
            "BUG: KMSAN:",
            "KMSAN: %[1]v in %[3]v",
            report=r"BUG: KMSAN: ([a-z\-]+) in {{FUNC}}",
            alt=("bad-access in %[3]v",),
            # Crypto routines are where uninit data is hit, not where the bug is.
            stack=StackSpec(
                parts=_KMSAN_ORIGIN,
                skip=(
                    "alloc_skb",
                    "netlink_ack",
                    "netlink_rcv_skb",
                    "_encrypt$",
                    "^(?:crypto|cipher|drbg|rng)_",
                ),
            ),
            no_stack_trace=True,
        ),
        _fmt(
            "BUG: KCSAN: data-race", "KCSAN: %[1]v", report="BUG: KCSAN: (.*)", no_stack_trace=True
        ),
        _fmt("BUG: KCSAN:", "KCSAN: %[1]v", report="BUG: KCSAN: (.*)", no_stack_trace=True),
        _fmt(
            "BUG: KFENCE: (use-after-free|out-of-bounds) (read|write) in {{FUNC}}",
            "KFENCE: %[1]v %[2]v in %[4]v",
            alt=("bad-access in %[4]v",),
            stack=_KFENCE_STACK,
        ),
        _fmt(
            "BUG: KFENCE: invalid free in {{FUNC}}",
            "KFENCE: invalid free in %[2]v",
            alt=("invalid-free in %[2]v",),
            stack=_KFENCE_STACK,
            no_stack_trace=True,
        ),
        _fmt(
            "BUG: KFENCE: invalid (read|write) in {{FUNC}}",
            "KFENCE: invalid %[1]v in %[3]v",
            alt=("bad-access in %[3]v",),
            stack=_KFENCE_STACK,
        ),
        _fmt(
            "BUG: KFENCE: memory corruption in {{FUNC}}",
            "KFENCE: memory corruption in %[2]v",
            stack=_KFENCE_STACK,
            no_stack_trace=True,
        ),
        _fmt(
            "BUG: (?:unable to handle kernel paging request|unable to handle page fault for address"
            "|Unable to handle kernel data access)",
            "BUG: unable to handle kernel paging request in %[1]v",
            alt=("bad-access in %[1]v",),
            stack=_rip_then_trace(),
        ),
        _fmt(
            "BUG: (?:unable to handle kernel NULL pointer dereference"
            "|kernel NULL pointer dereference"
            "|Kernel NULL pointer dereference)",
            "BUG: unable to handle kernel NULL pointer dereference in %[1]v",
            alt=("bad-access in %[1]v",),
            stack=_rip_then_trace(),
        ),
        # The kernel prints this header in two printk() calls; the second may be lost.
        _fmt(
            "BUG: (?:unable to handle kernel|Unable to handle kernel)",
            "BUG: unable to handle kernel",
            corrupted=True,
        ),
        _fmt(
            "BUG: (spinlock|rwlock) (lockup suspected|already unlocked|recursion|cpu recursion"
            "|bad magic|wrong owner|wrong CPU|trylock failure on UP)",
            "BUG: %[1]v %[2]v in %[3]v",
            stack=_trace("spin_", "_lock", "_unlock"),
        ),
        _fmt(
            "BUG: soft lockup",
            "BUG: soft lockup in %[1]v",
            alt=("stall in %[1]v",),
            stack=_STALLED_AT_RIP,
        ),
        _fmt(
            "BUG: .*still has locks held!",
            "BUG: still has locks held in %[1]v",
            report=r"BUG: .*still has locks held!(?:.*\n)+?.*{{PC}} +{{FUNC}}",
        ),
        _fmt(
            "BUG: scheduling while atomic",
            "BUG: scheduling while atomic in %[1]v",
            stack=_trace("schedule"),
        ),
        _returning_with_locks("BUG"),
        _bad_unlock_balance("BUG"),
        _fmt(
            "BUG: held lock freed!",
            "BUG: held lock freed in %[1]v",
            report=r"BUG: held lock freed!(?:.*\n)+?.*{{PC}} +{{FUNC}}",
        ),
        _fmt("BUG: Bad rss-counter state", "BUG: Bad rss-counter state", no_stack_trace=True),
        _fmt(
            "BUG: non-zero nr_ptes on freeing mm",
            "BUG: non-zero nr_ptes on freeing mm",
            no_stack_trace=True,
        ),
        _fmt(
            "BUG: non-zero nr_pmds on freeing mm",
            "BUG: non-zero nr_pmds on freeing mm",
            no_stack_trace=True,
        ),
        # Filesystem type and block device name (loop0/1/2) would split one bug.
        _fmt(
            "BUG: Dentry .* still in use",
            "BUG: Dentry still in use in %[1]v",
            report=r"BUG: Dentry .* still in use \([0-9]+\) \[(unmount) of ([^\]]+)\]",
            alt=("BUG: Dentry still in use [%[1]v of %[2]v]",),
        ),
        # On arm64 the page origin trace is missing, so these end up corrupted there.
        _fmt(
            "BUG: Bad page (state|cache)",
            "BUG: Bad page %[1]v in %[2]v",
            stack=_trace(
                "(free|put|get|update|release)_page",
                "free_unref",
                "^_*folio",
                "truncate_inode_pages",
                "page_frag_free",
                "alloc",
                "vmap",
                "page_owner",
                after=pattern("page last allocated"),
            ),
        ),
        _fmt("BUG: Bad page map", "BUG: Bad page map"),
        _fmt("BUG: workqueue lockup", "BUG: workqueue lockup", no_stack_trace=True),
        _fmt(
            "BUG: sleeping function called from invalid context at (.*)",
            "BUG: sleeping function called from invalid context in %[2]v",
            stack=_trace(),
        ),
        _fmt(
            r"BUG: using ([a-z_]+)\(\) in preemptible",
            "BUG: using %[1]v() in preemptible code in %[2]v",
            stack=_trace(
                "dump_stack", "preemption", "preempt", "debug_", "processor_id", "this_cpu"
            ),
        ),
        _fmt(
            "BUG: workqueue leaked lock or atomic",
            "BUG: workqueue leaked lock or atomic in %[1]v",
            report=r"BUG: workqueue leaked lock or atomic(?:.*\n)+?"
            r".*last function: ([a-zA-Z0-9_]+)\n",
            no_stack_trace=True,
        ),
        _fmt(
            "BUG: memory leak",
            "memory leak in %[1]v",
            stack=_trace(
                "kmemleak",
                "mmap",
                "kmem",
                "slab",
                "alloc",
                "create_object",
                "idr_get",
                "list_lru_init",
                "kasprintf",
                "kvasprintf",
                "pcpu_create",
                "strdup",
                "strndup",
                "memdup",
                after=pattern(r"backtrace(?: \(crc [0-9A-Fa-f]*\))?:"),
            ),
        ),
        _fmt(
            "BUG: .*stack guard page was hit at",
            "BUG: stack guard page was hit in %[1]v",
            alt=("stack-overflow in %[1]v",),
            stack=_STALLED_AT_RIP,
        ),
        # arm's report of what amd64 reports as a lockdep WARNING: same title.
        _fmt(
            "BUG: Invalid wait context",
            "WARNING: locking bug in %[1]v",
            stack=_trace("lock_sock", "release_sock"),
        ),
        _fmt(r"BUG:\s*(?:\n|$)", "BUG: corrupted", corrupted=True),
        # CONFIG_DEBUG_OBJECTS, Android boot and ART debug output, syz-host debug output.
        suppress=(
            "ODEBUG:",
            "Boot_DEBUG:",
            "xlog_status:",
            "DEBUG:",
            "BUG: no syscalls can create resource",
        ),
    ),
    _oops(
        "WARNING:",
        _fmt(
            r"WARNING: .*lib/debugobjects\.c.* (?:debug_print|debug_check|at)",
            "WARNING: ODEBUG bug in %[1]v",
            # Users of ODEBUG are skipped as well.
            stack=_warning_stack(
                "debug_",
                "rcu",
                "hrtimer_",
                "timer_",
                "work_",
                "percpu_",
                "vunmap",
                "vfree",
                "__free_",
                "debug_check",
                "kobject_",
            ),
        ),
        _fmt(
            r"WARNING: .*mm/usercopy\.c.* (?:usercopy_warn|at)",
            "WARNING: bad usercopy in %[1]v",
            stack=_warning_stack("usercopy", "__check"),
        ),
        _fmt(
            r"WARNING: .*lib/kobject\.c.* (?:kobject_|at)",
            "WARNING: kobject bug in %[1]v",
            stack=_warning_stack("kobject_"),
        ),
        _fmt(
            r"WARNING: .*fs/proc/generic\.c.* (?:proc_register|at)",
            "WARNING: proc registration bug in %[1]v",
            stack=_warning_stack("proc_"),
        ),
        _fmt(
            r"WARNING: .*lib/refcount\.c.* (?:refcount_|at)",
            "WARNING: refcount bug in %[1]v",
            stack=_warning_stack("refcount", "kobject_"),
        ),
        _fmt(
            r"WARNING: .*kernel/locking/lockdep\.c.*lock_",
            "WARNING: locking bug in %[1]v",
            stack=_warning_stack("lock_sock", "release_sock"),
        ),
        _fmt(
            "WARNING: .*still has locks held!",
            "WARNING: still has locks held in %[1]v",
            report=r"WARNING: .*still has locks held!(?:.*\n)+?.*at: {{FUNC}}",
        ),
        _fmt(
            "WARNING: Nested lock was not taken",
            "WARNING: nested lock was not taken in %[1]v",
            stack=_warning_stack(),
        ),
        _returning_with_locks("WARNING"),
        _fmt(
            r"WARNING: .*mm/.*\.c.* k?.?malloc",
            "WARNING: kmalloc bug in %[1]v",
            stack=_warning_stack("kmalloc", "krealloc", "slab", "kmem"),
        ),
        _fmt(
            r"WARNING: .*mm/vmalloc.c.*__vmalloc_node",
            "WARNING: zero-size vmalloc in %[1]v",
            stack=_warning_stack(),
        ),
        _fmt(
            "WARNING: .* usb_submit_urb",
            "WARNING in %[1]v/usb_submit_urb",
            stack=_warning_stack(*_USB_SKIP),
        ),
        # The "file.c:N at 0x..., CPU#N" layout of Linux 6.19.
        _fmt(r"WARNING: {{SRC}} at 0x\d+, CPU#\d+", "WARNING in %[2]v", stack=_warning_stack()),
        _fmt("WARNING: .* at {{SRC}} {{FUNC}}", "WARNING in %[3]v", stack=_warning_stack()),
        _fmt("WARNING: {{SRC}} at {{FUNC}}", "WARNING in %[3]v", stack=_warning_stack()),
        _fmt(r"WARNING: \[.*\] {{SRC}} at {{FUNC}}.*", "WARNING in %[3]v", stack=_warning_stack()),
        _fmt(
            "WARNING: possible circular locking dependency detected",
            "possible deadlock in %[1]v",
            report=r"WARNING: possible circular locking dependency detected(?:.*\n)+?"
            r".*is trying to acquire lock",
            # Deadlocks in these involve the locks of work items, not the workqueue code.
            stack=StackSpec(
                parts=(
                    pattern("at: (?:{{PC}} +)?{{FUNC}}"),
                    pattern("at: (?:{{PC}} +)?{{FUNC}}"),
                    TRACE,
                ),
                skip=(
                    "process_one_work",
                    "flush_workqueue",
                    "drain_workqueue",
                    "destroy_workqueue",
                ),
            ),
        ),
        _fmt(
            "WARNING: possible irq lock inversion dependency detected",
            "possible deadlock in %[1]v",
            report=r"WARNING: possible irq lock inversion dependency detected(?:.*\n)+?"
            r".*just changed the state of lock" + _AT_FUNC,
        ),
        _fmt(
            "WARNING: .*-safe -> .*-unsafe lock order detected",
            "possible deadlock in %[1]v",
            stack=_trace(after=pattern("which became (?:.*) at:")),
        ),
        _fmt(
            "WARNING: possible recursive locking detected",
            "possible deadlock in %[1]v",
            report=r"WARNING: possible recursive locking detected(?:.*\n)+?"
            r".*is trying to acquire lock" + _AT_FUNC,
        ),
        _fmt(
            "WARNING: inconsistent lock state",
            "inconsistent lock state in %[2]v",
            report=r"WARNING: inconsistent lock state(?:.*\n)+?.*takes" + _AT_FUNC,
            stack=_trace(),
        ),
        _suspicious_rcu_usage("WARNING"),
        _fmt(
            "WARNING: kernel stack regs at [0-9a-f]+ in [^ ]* has bad '([^']+)' value",
            "WARNING: kernel stack regs has bad '%[1]v' value",
            no_stack_trace=True,
        ),
        _fmt(
            "WARNING: kernel stack frame pointer at [0-9a-f]+ in [^ ]* has bad value",
            "WARNING: kernel stack frame pointer has bad value",
            no_stack_trace=True,
        ),
        _bad_unlock_balance("WARNING"),
        _fmt(
            "WARNING: held lock freed!",
            "WARNING: held lock freed in %[1]v",
            report=r"WARNING: held lock freed!(?:.*\n)+?.*at:(?: {{PC}})? +{{FUNC}}",
        ),
        _fmt(
            "WARNING: kernel stack regs .* has bad 'bp' value",
            "WARNING: kernel stack regs has bad value",
            no_stack_trace=True,
        ),
        _fmt(
            "WARNING: kernel stack frame pointer .* has bad value",
            "WARNING: kernel stack regs has bad value",
            no_stack_trace=True,
        ),
        _fmt(r"WARNING:\s*(?:\n|$)", "WARNING: corrupted", corrupted=True),
        suppress=(
            "WARNING: /etc/ssh/moduli does not exist, using fixed modulus",  # sshd
            "WARNING: workqueue cpumask: online intersect > possible intersect",
            "WARNING: [Tt]he mand mount option",
            r"WARNING: Unsupported flag value\(s\) of 0x%x in DT_FLAGS_1",  # glibc
            "WARNING: Unprivileged eBPF is enabled with eIBRS",
            r"WARNING: fbcon: Driver '(.*)' missed to adjust virtual screen size"
            r" (\((?:\d+)x(?:\d+) vs\. (?:\d+)x(?:\d+)\))",
            "WARNING: See https.* for mitigation options.",
            "WARNING: kernel not compiled with CPU_SRSO",
            r"EXT4-[Ff][Ss](?: \(.*\))?:",  # __ext4_msg
            "(?i:warning: .* uses (deprecated v2 capabilities|wireless extensions))",
            r"XFS \(\w+\): WARNING",
        ),
    ),
    _oops(
        "INFO:",
        _fmt(
            "INFO: possible circular locking dependency detected",
            "possible deadlock in %[1]v",
            report=r"INFO: possible circular locking dependency detected \](?:.*\n)+?"
            r".*is trying to acquire lock(?:.*\n)+?.*at: {{PC}} +{{FUNC}}",
        ),
        _fmt(
            "INFO: possible irq lock inversion dependency detected",
            "possible deadlock in %[1]v",
            report=r"INFO: possible irq lock inversion dependency detected \](?:.*\n)+?"
            r".*just changed the state of lock(?:.*\n)+?.*at: {{PC}} +{{FUNC}}",
        ),
        _fmt(
            "INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected",
            "possible deadlock in %[1]v",
            report=r"INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected \](?:.*\n)+?"
            r".*is trying to acquire(?:.*\n)+?.*at: {{PC}} +{{FUNC}}",
        ),
        _fmt(
            "INFO: possible recursive locking detected",
            "possible deadlock in %[1]v",
            report=r"INFO: possible recursive locking detected \](?:.*\n)+?"
            r".*is trying to acquire lock(?:.*\n)+?.*at: {{PC}} +{{FUNC}}",
        ),
        _fmt(
            "INFO: inconsistent lock state",
            "inconsistent lock state in %[1]v",
            report=r"INFO: inconsistent lock state \](?:.*\n)+?.*takes(?:.*\n)+?"
            r".*at: {{PC}} +{{FUNC}}",
        ),
        _fmt(
            "INFO: rcu_(?:preempt|sched|bh|tasks) (?:self-)?detected(?: expedited)? stall",
            "INFO: rcu detected stall in %[1]v",
            alt=("stall in %[1]v",),
            stack=StackSpec(
                parts=(pattern("apic_timer_interrupt"), RIP_FRAME, TRACE),
                fallback=(pattern("(?:apic_timer_interrupt|Exception stack|el1h_64_irq)"), TRACE),
                skip=("apic_timer_interrupt", "rcu"),
                extractor=_stall_frame,
            ),
        ),
        _fmt(
            "INFO: trying to register non-static key",
            "INFO: trying to register non-static key in %[1]v",
            stack=_trace("stack", "lock", "IRQ"),
        ),
        _suspicious_rcu_usage("INFO"),
        # A task name (comm) can hold a newline.
        _fmt(
            r"INFO: task .*(?:\n.*)? blocked (?:in I/O wait )?for more than [0-9]+ seconds",
            "INFO: task hung in %[1]v",
            alt=("hang in %[1]v",),
            stack=StackSpec(parts=(CALL_TRACE, TRACE), extractor=_hung_task_frame),
        ),
        _fmt(
            "INFO: task .* can't die for more than .* seconds",
            "INFO: task can't die in %[1]v",
            alt=("hang in %[1]v",),
            stack=_trace("schedule"),
        ),
        # Old-style KASAN reports that lost their header.
        _fmt("INFO: (Freed|Allocated) in (.*)", "INFO: %[1]v in %[2]v", corrupted=True),
        _fmt(r"INFO:\s*(?:\n|$)", "INFO: corrupted", corrupted=True),
        suppress=(
            "INFO: lockdep is turned off",
            "INFO: Stall ended before state dump start",
            "INFO: NMI handler",
            "INFO: recovery required on readonly filesystem",
            "(handler|interrupt).*took too long",
            "INFO: sys_.* is not present in /proc/kallsyms",  # syz-host debug output
            "INFO: no syscalls can create resource",
            "rmt_storage:INFO:",  # Android
            "_INFO:",
        ),  # "INVALID BTF_INFO:NUM"
    ),
    _oops(
        "Unable to handle kernel",
        _fmt(
            "Unable to handle kernel "
            "(paging request|NULL pointer dereference|access to user memory)",
            "BUG: unable to handle kernel %[1]v in %[2]v",
            alt=("bad-access in %[2]v",),
            stack=_rip_then_trace(),
        ),
    ),
    _oops(
        "general protection fault",
        _fmt(
            "general protection fault.*:",
            "general protection fault in %[1]v",
            alt=("bad-access in %[1]v",),
            stack=_rip_then_trace(),
        ),
        suppress=(r"general protection fault .* error:\d+ in ",),  # user space
    ),
    _oops(
        "stack segment: ",
        _fmt("stack segment: ", "stack segment fault in %[1]v", stack=_rip_then_trace()),
    ),
    _oops(
        "Kernel panic",
        # The kernel may fail to name the function or unwind a corrupted stack.
        _fmt(
            "Kernel panic - not syncing: stack-protector:",
            "kernel panic: stack is corrupted in %[1]v",
            report=_STACK_PROTECTOR + "{{FUNC}}",
            no_stack_trace=True,
        ),
        _fmt(
            "Kernel panic - not syncing: stack-protector:",
            "kernel panic: stack is corrupted in %[1]v",
            report=_STACK_PROTECTOR + "[a-f0-9]+",
            stack=_trace("stack_chk"),
        ),
        _fmt(
            "Kernel panic - not syncing: corrupted stack end",
            "kernel panic: corrupted stack end in %[1]v",
            report="Kernel panic - not syncing: corrupted stack end detected inside scheduler",
            alt=("stack-overflow in %[1]v",),
            stack=StackSpec(
                parts=(CALL_TRACE, TRACE),
                skip=("schedule", "retint_kernel"),
                extractor=_stall_frame,
            ),
        ),
        _fmt(
            "Kernel panic - not syncing: kernel stack overflow",
            "kernel stack overflow in %[1]v",
            alt=("stack-overflow in %[1]v",),
            stack=StackSpec(parts=(CALL_TRACE, TRACE), skip=("bad_stack",), extractor=_stall_frame),
        ),
        _fmt(
            "Kernel panic - not syncing: Attempted to kill init!",
            "kernel panic: Attempted to kill init!",
        ),
        _fmt(
            "Kernel panic - not syncing: Couldn't open N_TTY ldisc for [^ ]+ --- error -[0-9]+",
            "kernel panic: Couldn't open N_TTY ldisc",
        ),
        # These follow a BUG, WARNING or hung task report whose header was lost.
        _fmt(
            "Kernel panic - not syncing: Fatal exception",
            "kernel panic: Fatal exception",
            corrupted=True,
        ),
        _fmt(
            "Kernel panic - not syncing: panic_on_warn set",
            "kernel panic: panic_on_warn set",
            corrupted=True,
        ),
        _fmt(
            "Kernel panic - not syncing: hung_task: blocked tasks",
            "kernel panic: hung_task: blocked tasks",
            corrupted=True,
        ),
        _fmt("Kernel panic - not syncing: (.*)", "kernel panic: %[1]v"),
    ),
    _oops(
        "PANIC: double fault",
        _fmt("PANIC: double fault", "PANIC: double fault in %[1]v", stack=_RIP_ONLY),
    ),
    _oops(
        "rust_kernel: panicked",
        _fmt(
            "rust_kernel: panicked",
            "%[1]v in %[2]v",
            report="rust_kernel: panicked at [^\n]*?\n(.+?)\n",
            stack=_trace(re.escape("__rustc::rust_begin_unwind")),
        ),
    ),
    _oops(
        "kernel BUG",
        _fmt(
            "kernel BUG at mm/usercopy.c",
            "BUG: bad usercopy in %[1]v",
            stack=_trace("usercopy", "__check"),
        ),
        # Also memory corruption or races, hence the alt title.
        _fmt(
            "kernel BUG at lib/list_debug.c",
            "BUG: corrupted list in %[1]v",
            alt=("bad-access in %[1]v",),
            stack=_trace(),
        ),
        # Many skb wrappers BUG_ON() what their caller got wrong.
        _fmt("kernel BUG at (.*)", "kernel BUG in %[2]v", stack=_rip_then_trace("^skb_")),
    ),
    _oops("Kernel BUG", _fmt("Kernel BUG (.*)", "kernel BUG %[1]v")),
    _oops("BUG kmalloc-", _fmt("BUG kmalloc-.*: Object already free", "BUG: Object already free")),
    _oops("divide error:", _fmt("divide error: ", "divide error in %[1]v", stack=_RIP_ONLY)),
    # The misspelling of 9d06c4027f21 ("x86/entry: Convert Divide Error to IDTENTRY").
    _oops("divide_error:", _fmt("divide_error: ", "divide error in %[1]v", stack=_RIP_ONLY)),
    _oops("invalid opcode:", _fmt("invalid opcode: ", "invalid opcode in %[1]v", stack=_RIP_ONLY)),
    # A breakpoint trap in kernel code ("Oops: int3: 0000 [#1]").
    _oops("int3:", _fmt("int3: ", "int3 in %[1]v", stack=_rip_then_trace())),
    _oops(
        "UBSAN:",
        _fmt(
            "UBSAN:",
            "UBSAN: undefined-behaviour in %[1]v",
            report="UBSAN: Undefined behaviour in",
            stack=_trace(*_UBSAN_SKIP),
        ),
        _fmt(
            "UBSAN: array-index-out-of-bounds in",
            "UBSAN: array-index-out-of-bounds in %[1]v",
            alt=("bad-access in %[1]v",),
            stack=_trace(*_UBSAN_SKIP),
        ),
        _fmt(
            "UBSAN:", "UBSAN: %[1]v in %[2]v", report="UBSAN: (.*?) in", stack=_trace(*_UBSAN_SKIP)
        ),
    ),
    _oops(
        "Booting the kernel.",
        _fmt("^Booting the kernel", "unexpected kernel reboot", no_stack_trace=True),
        # The fuzzer may read the boot banner and pass it back as a bad mount option.
        suppress=("Parsing ELF|Decompressing Linux|Unknown parameter '",),
    ),
    _oops(
        "unregister_netdevice: waiting for",
        _fmt(
            "unregister_netdevice: waiting for (?:.*) to become free",
            "unregister_netdevice: waiting for DEV to become free",
            no_stack_trace=True,
        ),
    ),
    # Printed by older kernels, syzkaller #3621.
    _oops(
        "VFS: Close: file count is 0",
        _fmt(
            "VFS: Close: file count is 0",
            "VFS: Close: file count is zero (use-after-free)",
            no_stack_trace=True,
        ),
    ),
    _oops(
        "VFS: Busy inodes after unmount",
        _fmt(
            "VFS: Busy inodes after unmount",
            "VFS: Busy inodes after unmount (use-after-free)",
            no_stack_trace=True,
        ),
    ),
    # arm64 "synchronous external abort" is arm's "paging request", x86's GPF: same alt.
    _oops(
        "Internal error:",
        _fmt(
            "Internal error:",
            "Internal error in %[1]v",
            alt=("bad-access in %[1]v",),
            stack=_rip_then_trace(),
        ),
    ),
    _oops(
        "Unhandled fault:",
        _fmt(
            "Unhandled fault:",
            "Unhandled fault in %[1]v",
            alt=("bad-access in %[1]v",),
            stack=_rip_then_trace(),
        ),
    ),
    _oops(
        "Alignment trap:",
        _fmt("Alignment trap:", "Alignment trap in %[1]v", stack=_rip_then_trace()),
    ),
    _oops(
        "trusty: panic",
        _fmt(
            "trusty: panic.* ASSERT FAILED",
            "trusty: ASSERT FAILED: %[1]v",
            report=r"trusty: panic \(.*?\):(?: DEBUG)? ASSERT FAILED at \(.*?\): (.+)",
            no_stack_trace=True,
        ),
        _fmt(
            "trusty: panic.* ASSERT FAILED.*: *(.*)", "trusty: ASSERT FAILED: %[1]v", corrupted=True
        ),
        _fmt(
            "trusty: panic",
            "trusty: panic: %[1]v",
            report=r"trusty: panic \(.*?\): (.+)",
            no_stack_trace=True,
        ),
    ),
    # Go programs, syzkaller itself.
    _oops(
        "fatal error:",
        _fmt("fatal error:", "go runtime error", no_stack_trace=True),
        suppress=("ALSA", "fatal error: cannot create timer"),
    ),
    _oops("SYZFAIL:", _fmt("SYZFAIL:(.*)", "SYZFAIL:%[1]v", no_stack_trace=True)),
    _oops(
        "SYZFATAL:",
        _fmt("SYZFATAL:(.*)()", "SYZFATAL:%[1]v", alt=("SYZFATAL%[2]v",), no_stack_trace=True),
    ),
    _oops(
        "panic:",
        _fmt(
            "panic: Sentry detected .* stuck task",
            "panic: Sentry detected stuck tasks",
            no_stack_trace=True,
        ),
        _fmt("panic:(.*)", "panic:%[1]v", no_stack_trace=True),
        # skb_panic(), skb_over_panic(); Android and BSD boot noise.
        suppress=("_panic:", "xlog_status:", r"ddb\.onpanic:", "evtlog_status:"),
    ),
)

#: The bytes that make a line a candidate crash report, in table order.
OOPS_HEADERS: Final = tuple(oops.header for oops in OOPSES)


def _entry(header: bytes) -> int:
    """Where a scan enters ``header``: its first capital, else colon, else its start."""
    for index, byte in enumerate(header):
        if 0x41 <= byte <= 0x5A:
            return index
    return max(header.find(b":"), 0)


def _header_scanner(headers: tuple[bytes, ...]) -> re.Pattern[bytes]:
    """One regexp matching every header, built to be scanned fast.

    ``re`` skips ahead in C only over bytes that cannot begin a match. Headers
    begin with common lower-case letters, so each alternative begins at a rarer
    byte (capitals and colons are a few percent of a kernel log) and checks the
    bytes before it with a lookbehind; alternatives entered at the same byte
    share it. This doubles the speed of a plain alternation on crash-free logs.
    """
    by_entry: dict[bytes, list[bytes]] = {}
    for header in headers:
        at = _entry(header)
        behind = b"(?<=" + re.escape(header[: at + 1]) + b")" if at else b""
        by_entry.setdefault(header[at : at + 1], []).append(behind + re.escape(header[at + 1 :]))
    return re.compile(
        b"|".join(
            re.escape(entry) + b"(?:" + b"|".join(rests) + b")"
            for entry, rests in sorted(by_entry.items())
        )
    )


#: All headers at once: the only pattern a crash-free log is scanned with.
HEADER_RE: Final = _header_scanner(OOPS_HEADERS)
#: These lines do not start a second report inside the current one.
REPORT_START_IGNORES: Final = pattern(
    # A double fault can happen while handling a page fault on badly corrupted memory.
    "invalid opcode: 0000|Kernel panic - not syncing|unregister_netdevice: waiting for"
    "|PANIC: double fault|Internal error:"
)
#: Not bugs, but they print a stack that would be mistaken for the report's.
INFO_WITH_STACK: Final = (
    b"vmalloc: allocation failure:",
    b"FAULT_INJECTION: forcing a failure",
    b"FAULT_FLAG_ALLOW_RETRY missing",
)
#: A line cut short by a console takeover: the kernel prints it again in full.
REPLAYED_LINE: Final = re.compile(rb"\*\* replaying previous printk message \*\*")
#: Anywhere in the log, these make a crash one a fuzzer ignores (OOM, broken setup).
LOG_SUPPRESSIONS: Final = pattern(
    "|".join(
        f"(?:{s})"
        for s in (
            "panic: failed to start executor binary",
            "panic: executor failed: pthread_create failed",
            "panic: failed to create temp dir",
            "fatal error: unexpected signal during runtime execution",  # OOM as SIGBUS
            "signal SIGBUS: bus error",
            "SYZFAIL: SIGBUS",
            r"Out of memory: Kill process .* \(syz-executor\)",
            r"Out of memory: Kill process .* \(sshd\)",
            r"Killed process .* \(syz-executor\)",
            r"Killed process .* \(sshd\)",
            "lowmemorykiller: Killing 'syz-executor'",
            "lowmemorykiller: Killing 'sshd'",
            "INIT: PANIC: segmentation violation!",
            r"\*\*\* stack smashing detected \*\*\*: terminated",
            # The Go runtime out of memory.
            "fatal error: runtime: out of memory",
            "fatal error: runtime: cannot allocate memory",
            "fatal error: out of memory",
            "fatal error: newosproc",
            "panic: .*cannot allocate memory",
        )
    )
)


def matching_oops(line: bytes) -> Oops | None:
    """The first oops (in table order) that ``line`` starts, if any."""
    for oops in OOPSES:
        if oops.header in line and (
            oops.suppressions is None or not oops.suppressions.search(line)
        ):
            return oops
    return None
