"""
Stack frames
------------

How a Linux crash report names the function to blame, following syzkaller's
``pkg/report`` (``extractStackFrame``, ``linuxStackParams``): a format walks
the report with a sequence of *parts* (regexps that skip ahead or capture a
frame, and :data:`TRACE`, which reads a whole stack trace), drops frames that
are never to blame (allocators, locking, sanitizer and reporting helpers), and
picks the first survivor, or lets a custom extractor choose (RCU stalls and
hung tasks blame a frame deeper down).

Patterns are bytes regexps: a console log is bytes, and frame names are ASCII.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from kexec_lineage.logs.rust_symbols import demangle

__all__ = (
    "CALL_TRACE",
    "CORRUPTED_FRAME",
    "RIP_FRAME",
    "TRACE",
    "Extractor",
    "Frame",
    "StackPart",
    "StackSpec",
    "hung_task_frame",
    "pattern",
    "raw_variants",
    "stack_trace_problem",
    "stall_frame",
)

_MACROS: Final = (
    ("{{ADDR}}", r"0x[0-9a-f]+"),
    ("{{PC}}", r"\[<?(?:0x)?[0-9a-f]+>?\]"),
    ("{{FUNC}}", r"([a-zA-Z0-9_]+)(?:\.|\+)"),
    ("{{SRC}}", r"([a-zA-Z0-9\-_/.]+\.[a-z]+:[0-9]+)"),
)


def pattern(source: str) -> re.Pattern[bytes]:
    """Compile a table regexp after expanding syzkaller's ``{{...}}`` macros."""
    for macro, expansion in _MACROS:
        source = source.replace(macro, expansion)
    return re.compile(source.encode())


class _Trace(enum.Enum):
    TRACE = "parse a stack trace from here"


#: A stack part that reads frame lines until the next stack trace starts.
TRACE: Final = _Trace.TRACE

StackPart = re.Pattern[bytes] | Literal[_Trace.TRACE]
#: Picks the guilty frame among the (prefix-stripped) frames: its name and index.
Extractor = Callable[[Sequence[bytes]], tuple[bytes, int] | None]

#: The faulting instruction line of x86 (``RIP:``), powerpc (``NIP:``), arm (``pc :``/``PC is at``).
RIP_FRAME: Final = pattern(
    r"(?:IP|NIP|pc |PC is at):? (?:(?:[0-9]+:)?(?:{{PC}} +){0,2}{{FUNC}}|(?:[0-9]+:)?0x[0-9a-f]+"
    r"|(?:[0-9]+:)?{{PC}} +\[< *\(null\)>\] +\(null\)|[0-9]+: +\(null\))"
)
CALL_TRACE: Final = pattern(r"(?:Call (?:T|t)race:)|(?:Backtrace:)")

# RISC-V show_regs() dumps the stack with no header; its last register line stands in.
_RISCV_STACK_START: Final = pattern(
    r"status: [0-9a-f]{16} badaddr: [0-9a-f]{16} cause: [0-9a-f]{16}"
)
_STACK_STARTS: Final = (
    pattern(r"Call (?:T|t)race"),
    pattern(r"Allocated:"),
    pattern(r"Allocated by task [0-9]+:"),
    pattern(r"Freed:"),
    pattern(r"Freed by task [0-9]+:"),
    # "backtrace:" but not "stack backtrace:"; kmemleak adds a crc.
    pattern(r"[^k] backtrace(?: \(crc [0-9A-Fa-f]*\))?:"),
    pattern(r"Backtrace:"),
    pattern(r"Uninit was stored to memory at"),
    _RISCV_STACK_START,
)
_ANY_STACK_START: Final = pattern("|".join(f"(?:{p.pattern.decode()})" for p in _STACK_STARTS))
_FRAME_LINES: Final = (
    pattern(r"^ *(?:{{PC}} ){0,2}{{FUNC}}"),
    # arm prints "(callee) from (caller)"; both count, the top frame is only in LR.
    pattern(r"^ *{{PC}} \(([a-zA-Z0-9_.]+)\) from {{PC}} \({{FUNC}}"),
)
# Fault injection stacks are often interleaved with the report they provoke.
_FAULT_INJECTION_LINE: Final = pattern(
    r"^( \[<?(?:0x)?[0-9a-f]+>?\])? should_fail(slab)?(\.[a-z0-9.]+)?\+0x"
)
# Never the culprit: sanitizers, reporting, allocators, locking, string and list
# helpers, device-model teardown, MMIO accessors (syzkaller's skipPatterns).
_SKIP_ALWAYS: Final = (
    "__sanitizer", "__asan", "kasan", "hwasan", "__msan", "kmsan", "kcsan_setup_watchpoint",
    "check_memory_region", "check_heap_object", "check_object", "read_word_at_a_time",
    "(read|write)_once_.*nocheck", "print_address_description", "panic", "invalid_op",
    "report_bug", "fixup_bug", "print_report", "print_usage_bug", "do_error", "_trap$|do_trap",
    "show_stack", "dump_stack", "walk_stack", "dump_backtrace", "warn_slowpath", "warn_alloc",
    "warn_bogus", "__warn", "alloc_page", "k?v?(?:m|z|c)alloc", "krealloc", "kmem_cache",
    "allocate_slab", "__alloc_frozen_pages_noprof", "folio_(?:alloc|unlock)",
    "filemap_alloc_folio", "__filemap_get_folio", "find_or_create_page", "do_read_cache_folio",
    "read_cache_page", "pagecache_get_page", "grab_cache_page_write_begin", "slab_",
    "debug_object", "timer_is_static_object", "work_is_static_object", "__might_fault",
    "print_unlock", "imbalance_bug", "lockdep", "bh_enable", "bh_disable", "perf_trace",
    "lock_acquire", "lock_release", "lock_class", "mark_lock", "(reacquire|mark)_held_locks",
    "raw_spin_rq", "spin_lock", "spin_trylock", "spin_unlock", "read_lock", "read_trylock",
    "write_lock", "write_trylock", "read_unlock", "write_unlock", "^down$", "down_read",
    "down_write", "down_read_trylock", "down_write_trylock", "down_trylock", "up_read",
    "up_write", "^mutex_", "^__mutex_", "^rt_mutex_", "owner_on_cpu", "osq_lock", "osq_unlock",
    "atomic(64)?_(dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)",
    "(set|clear|change|test)_bit", "__wake_up", "^refcount_", "^kref_", "ref_tracker",
    "seqprop_assert", "memcpy", "memcmp", "memset", "memchr", "memmove", "memdup", "strcmp",
    "strncmp", "strcpy", "strlcpy", "strncpy", "strscpy", "strlen", "strstr", "strnstr",
    "strnlen", "strchr", "strdup", "strndup", "copy_to_user", "copy_from_user", "copy_to_iter",
    "copy_from_iter", "copy_page_to_iter", "copy_page_from_iter", "copy_folio_to_iter",
    "^copyin$", "^copyout$", "put_user", "get_user", "might_fault", "might_sleep", "list_add",
    "list_del", "list_replace", "list_move", "list_splice", "^rb_", "^__rb_",
    "_indirect_thunk_", "string", "pointer", "snprintf", "scnprintf", "kasprintf",
    "kvasprintf", "printk", "va_format", "dev_info", "dev_notice", "dev_warn", "dev_err",
    "dev_alert", "dev_crit", "dev_emerg", "program_check_exception", "program_check_common",
    "del_timer", "flush_work", "__cancel_work_timer", "cancel_work_sync",
    "try_to_grab_pending", "flush_workqueue", "drain_workqueue", "destroy_workqueue",
    "queue_work", "finish_wait", "kthread_stop", "kobject_", "add_uevent_var",
    "get_device_parent", "device_add", "device_del", "device_unregister", "device_destroy",
    "device_release", "devres_release_all", "hwrng_unregister", "i2c_del_adapter",
    "__unregister_client", "device_for_each_child", "rollback_registered",
    "unregister_netdev", "sysfs_remove", "device_remove_file", "tty_unregister_device",
    "dummy_urb_enqueue", "usb_kill_urb", "usb_kill_anchored_urbs", "usb_control_msg",
    "usb_hcd_submit_urb", "usb_submit_urb", "^complete$", "wait_for_completion", "^kv?free$",
    "kfree_skb", "readb$", "readw$", "readl$", "readq$", "writeb$", "writew$", "writel$",
    "writeq$", "logic_in", "logic_out", r"^crc\d+", "crc_itu_t", "__might_resched",
    "assertfail", "^iput$", "^iput_final$", "^ihold$", "hex_dump_to_buffer", "print_hex_dump",
    "^klist_", "(trace|lockdep)_(hard|soft)irq", "^(un)?lock_page",
    "stack_trace_consume_entry", "arch_stack_walk", "stack_trace_save", "insert_work",
    "__queue_delayed_work", "queue_delayed_work_on", "ida_free",
    # arm64 translation exception handling path.
    "do_(kernel|translation)_fault", "do_mem_abort", "el1_abort", "el1h_64_sync(?:_handler)?",
    "print_tainted", "xas_(?:start|load|find)", "find_lock_entries",
    "truncate_inode_pages_range", "__phys_addr", "__fortify_report", "cleanup_srcu_struct",
    "rhashtable_lookup", "extract_(user|iter)_to_sg", "drop_nlink", "^get_taint$",
    "^put_device$", "lock_timer_base", "__timer_delete_sync", "sk_stop_timer_sync",
    "__mod_timer", "fast_dput", "dput",
)  # fmt: skip
_SKIP_ALWAYS_RE: Final = pattern("|".join(_SKIP_ALWAYS))
# Architectures name the same syscall differently; the shortest stripped name wins.
_SYSCALL_PREFIXES: Final = (
    b"SYSC_", b"SyS_", b"sys_", b"__x64_", b"__ia32_", b"__arm64_", b"____sys_", b"___sys_",
    b"__sys_", b"__se_", b"__se_sys_", b"__do_sys_", b"compat_SYSC_", b"compat_SyS_", b"ksys_",
)  # fmt: skip
# Where a stall's looping code is dispatched from: the frame above one of these is blamed.
_STALL_ANCHOR_NAMES: Final = (
    "process_one_work", "do_syscall_", "do_fast_syscall_", "sysenter_dispatch", "tracesys_phase2",
    "el0_svc_handler", "invoke_syscall", "ret_fast_syscall", "netif_receive_skb", "do_softirq",
    "call_timer_fn", "_run_timers", "run_timer_softirq", "hrtimer_run", "run_ksoftirqd",
    "smpboot_thread_fn", "^kthread$", "start_secondary", "cpu_startup_entry", "ret_from_fork",
    # File and device operations that discriminate the syscall.
    "vfs_write", "vfs_read", "vfs_iter_read", "vfs_iter_write", "do_iter_read", "do_iter_write",
    "call_read_iter", "call_write_iter", "new_sync_read", "new_sync_write", "vfs_ioctl",
    "ksys_ioctl", "compat_ioctl", "compat_sys_ioctl", "blkdev_driver_ioctl", "blkdev_ioctl",
    "^call_read_iter", "^call_write_iter", "do_iter_readv_writev", "^call_mmap", "mmap_region",
    "do_mmap", "do_dentry_open", "vfs_open",
    # Socket operations.
    "^sock_sendmsg", "^sock_recvmsg", "^sock_release", "^__sock_release", "^setsockopt$",
    "kernel_setsockopt", "sock_common_setsockopt", "^listen$", "kernel_listen", "sk_common_release",
    "^sock_mmap", "^accept$", "kernel_accept", "^sock_do_ioctl", "^sock_ioctl",
    "^compat_sock_ioctl", "^nfnetlink_rcv_msg", "^rtnetlink_rcv_msg", "^netlink_dump",
    "^(sys_)?(socketpair|connect|ioctl)",
    # Page fault entry points.
    "__do_fault", "do_page_fault", "^page_fault$",
    # exit_to_usermode_loop callbacks.
    "__fput", "task_work_run", "exit_to_usermode", "smp_call_function", "tasklet_action",
    "tasklet_hi_action",
)  # fmt: skip
_STALL_ANCHORS: Final = pattern("|".join(f"(?:{anchor})" for anchor in _STALL_ANCHOR_NAMES))
_HANG_BUCKETS: Final = (
    (b"rtnl_lock", b""),
    (b"synchronize_rcu", b"synchronize_rcu"),
    (b"synchronize_srcu", b"synchronize_rcu"),
    (b"synchronize_net", b"synchronize_rcu"),
    (b"synchronize_sched", b"synchronize_rcu"),
)
_HANG_SKIP: Final = (
    b"sched", b"_lock", b"_slowlock", b"down", b"rwsem", b"completion", b"kthread", b"wait",
    b"synchronize", b"context_switch", b"__switch_to", b"cancel_delayed_work", b"rcu_barrier",
)  # fmt: skip


def stall_frame(frames: Sequence[bytes]) -> tuple[bytes, int] | None:
    """Blame the frame above the dispatcher a stall loops under.

    A stall is caught at a random point of the looping code, so the top frame
    would split one bug into many; the syscall (or, for ioctl/read/write, the
    device or protocol handler just above the dispatcher) is stable.
    """
    previous = 0
    for index, frame in enumerate(frames):
        if _STALL_ANCHORS.search(frame):
            if b"smp_call_function" in frame:
                return b"smp_call_function", index
            return frames[previous], previous
        previous = index
    return None


def hung_task_frame(frames: Sequence[bytes]) -> tuple[bytes, int] | None:
    """Blame a hung task's frame, bucketing the usual victims.

    Hangs show up at victim stacks: everything waiting on ``rtnl_lock`` or an
    RCU grace period is one bucket, then waiting/locking frames are skipped.
    """
    for index, frame in enumerate(frames):
        for anchor, bucket in _HANG_BUCKETS:
            if anchor in frame:
                return bucket or frame, index
    for index, frame in enumerate(frames):
        if not any(word in frame for word in _HANG_SKIP):
            return frame, index
    return None


@dataclass(frozen=True, slots=True)
class Frame:
    """A guilty frame: ``canonical`` (syscall prefix stripped) goes in the title."""

    canonical: bytes
    raw: bytes


#: What a title says when no frame could be found.
CORRUPTED_FRAME: Final = Frame(b"corrupted", b"corrupted")


@dataclass(frozen=True, slots=True)
class StackSpec:
    """Where a format finds its frame(s); ``fallback`` is tried if ``parts`` fail.

    Each :data:`TRACE` part after the first, and the end of ``parts``, yields
    one frame to the title, so a format with two traces gets two frames.
    """

    parts: tuple[StackPart, ...]
    fallback: tuple[StackPart, ...] = ()
    skip: tuple[str, ...] = ()
    extractor: Extractor | None = None
    _skip_re: re.Pattern[bytes] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_skip_re", pattern("|".join(self.skip)) if self.skip else None)

    @property
    def frame_count(self) -> int:
        """How many frames :meth:`extract` yields."""
        return max(1, sum(part is TRACE for part in self.parts))

    def extract(self, text: bytes) -> tuple[list[Frame], bool]:
        """The frames found in report ``text``; ``False`` if any is missing."""
        lines = text.split(b"\n")
        frames, ok = self._walk(self.parts, lines)
        if ok or not self.fallback:
            return frames, ok
        return self._walk(self.fallback, lines)

    def _key_frame(self, raw: Sequence[bytes]) -> Frame | None:
        if not raw:
            return None
        stripped = [_strip_syscall_prefix(frame) for frame in raw]
        if self.extractor is None:
            return Frame(stripped[0], raw[0])
        chosen = self.extractor(stripped)
        return None if chosen is None else Frame(chosen[0], raw[chosen[1]])

    def _frames_of(self, match: re.Match[bytes]) -> list[bytes]:
        """The names a frame regexp captured, demangled, without those never to blame."""
        names = (demangle(group) for group in match.groups() if group is not None)
        return [name for name in names if not self._skipped(name)]

    def _skipped(self, name: bytes) -> bool:
        return bool(_SKIP_ALWAYS_RE.search(name) or (self._skip_re and self._skip_re.search(name)))

    def _walk(self, parts: tuple[StackPart, ...], lines: list[bytes]) -> tuple[list[Frame], bool]:
        """Match ``parts`` against successive lines, as syzkaller's extractStackFrameImpl.

        A regexp part consumes lines up to the first it matches; :data:`TRACE`
        consumes frame lines up to the next stack start, or up to a line that
        the next part matches (which that part then counts as matching).
        """
        cursor, index, traces, ok = 0, 0, 0, True
        raw: list[bytes] = []
        found: list[Frame] = []
        while True:
            if index == len(parts) or (parts[index] is TRACE and traces):
                key = self._key_frame(raw)
                if key is None:
                    key, ok = CORRUPTED_FRAME, False
                found.append(key)
                raw = []
            if index == len(parts):
                return found, ok
            part = parts[index]
            following = parts[index + 1] if index + 1 < len(parts) else TRACE
            if part is TRACE:
                traces += 1
            while cursor < len(lines):
                line = lines[cursor]
                cursor += 1
                if _FAULT_INJECTION_LINE.search(line):
                    ok = False
                    break
                if part is not TRACE:
                    if match := part.search(line):
                        raw += self._frames_of(match)
                        break
                    continue
                if _ANY_STACK_START.search(line):
                    break
                if following is not TRACE and (match := following.search(line)):
                    raw += self._frames_of(match)
                    index += 1
                    break
                for frame_line in _FRAME_LINES:
                    if match := frame_line.search(line):
                        raw += self._frames_of(match)
                        break
            index += 1


def _strip_syscall_prefix(frame: bytes) -> bytes:
    return min((frame.removeprefix(p) for p in _SYSCALL_PREFIXES), key=len)


def raw_variants(frames: Sequence[Frame]) -> Iterator[list[bytes]]:
    """The frames as printed, then with each syscall prefix trimmed where one is.

    Titles built from these become alternative titles, so that a crash titled
    after ``mount`` also matches one filed under ``ksys_mount``.
    """
    raw = [frame.raw for frame in frames]
    yield raw
    for prefix in _SYSCALL_PREFIXES:
        trimmed = [name.removeprefix(prefix) for name in raw]
        if trimmed != raw:
            yield trimmed


def stack_trace_problem(report: bytes) -> str:
    """Why a report that should carry stack traces looks truncated ("" if it does not).

    Every stack start (``Call Trace``, ``Allocated by``, ``Freed by``, ...) must
    be followed by a frame within 15 lines, and some stack must be present.
    """
    has_trace = False
    for start in _STACK_STARTS:
        match = start.search(report)
        if match is None:
            continue
        lines = report[match.start() :].split(b"\n", 16)
        if len(lines) < 4:
            return "call trace is missed"
        framed = False
        for line in lines[1:16]:
            if _ANY_STACK_START.search(line):
                break
            if b"(stack is not available)" in line or any(r.search(line) for r in _FRAME_LINES):
                has_trace = framed = True
                break
        if not framed and start is not _RISCV_STACK_START:
            return "no frames in a stack trace"
    return "" if has_trace else "no stack trace in report"
