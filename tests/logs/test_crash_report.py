"""Crash reports found and titled in console logs built here, line by line."""

from __future__ import annotations

import pytest

from kexec_lineage.logs.crash_report import (
    OOPS_HEADERS,
    contains_crash,
    first_crash,
    parse_crashes,
)
from kexec_lineage.logs.frames import pattern
from kexec_lineage.logs.oops_table import HEADER_RE, OOPSES, OopsFormat
from kexec_lineage.logs.rust_symbols import demangle
from kexec_lineage.logs.titles import crash_type, normalize
from kexec_lineage.model.crash import Crash


def console(*lines: str, start: float = 100.0, caller: str | list[str] = "") -> bytes:
    """Lines with ``[ time]`` prefixes and, if given, a ``[T123]`` caller id each."""
    callers = [caller] * len(lines) if isinstance(caller, str) else caller
    return b"".join(
        f"[{start + i / 1000:12.6f}]{f'[{who:>6}]' if who else ''} {line}\n".encode()
        for i, (line, who) in enumerate(zip(lines, callers, strict=True))
    )


def described(crash: Crash) -> tuple[str, str, str, tuple[str, ...], bool]:
    """What syzkaller's corpus headers state: TITLE, TYPE, FRAME, ALT, CORRUPTED."""
    return crash.title, crash.type, crash.frame, crash.alt_titles, crash.corrupted


def only_crash(log: bytes) -> Crash:
    crashes = parse_crashes(log)
    assert len(crashes) == 1, [c.title for c in crashes]
    return crashes[0]


KASAN = (
    "==================================================================",
    "BUG: KASAN: use-after-free in ext4_xattr_set_entry+0x2a1/0x31e0",
    "Read of size 4 at addr ffff8880648e0010 by task syz-executor.3/8213",
    "CPU: 1 PID: 8213 Comm: syz-executor.3 Not tainted 5.10.0 #1",
    "Call Trace:",
    " dump_stack+0x107/0x163",
    " print_address_description.constprop.0.cold+0x5b/0x2f8",
    " kasan_report.cold+0x7c/0xd8",
    " ext4_xattr_set_entry+0x2a1/0x31e0",
    " ext4_xattr_ibody_set+0x78/0x2b0",
    " do_syscall_64+0x2d/0x70",
    "Allocated by task 8213:",
    " kasan_save_stack+0x1b/0x40",
    " kmem_cache_alloc+0x13e/0x260",
    " ext4_alloc_inode+0x1a/0x630",
    "Freed by task 8213:",
    " kasan_save_stack+0x1b/0x40",
    " kfree+0xdb/0x3b0",
    " ext4_free_inode+0x1a/0x630",
)

GPF = (
    "general protection fault, probably for non-canonical address 0xdffffc0000000002: 0000 [#1]",
    "KASAN: null-ptr-deref in range [0x0000000000000010-0x0000000000000017]",
    "CPU: 0 PID: 3131 Comm: syz-executor.0 Not tainted 5.15.0 #1",
    "RIP: 0010:memcpy_erms+0x6/0x10",
    "Code: cc cc cc cc eb 1e 0f 1f 00 48 89 f8 48 89 d1 <f3> a4 c3 66 0f 1f 44 00 00",
    "RSP: 0018:ffffc9000300f8a8 EFLAGS: 00010246",
    "Call Trace:",
    " <TASK>",
    " ? memcpy_erms+0x6/0x10",
    " nfc_llcp_build_tlv+0xa1/0x120",
    " nfc_llcp_send_connect+0x2b0/0x6f0",
    " __sys_connect+0x2d4/0x310",
    " </TASK>",
)

HUNG_TASK = (
    "INFO: task syz-executor.2:9044 blocked for more than 143 seconds.",
    "      Not tainted 6.1.0-syzkaller #0",
    '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.',
    "task:syz-executor.2  state:D stack:28176 pid:9044  ppid:3625   flags:0x00004004",
    "Call Trace:",
    " <TASK>",
    " __schedule+0xacf/0x4ac0",
    " schedule+0xd2/0x260",
    " schedule_preempt_disabled+0xf/0x20",
    " __mutex_lock+0xa2a/0x1350",
    " mutex_lock_nested+0x1b/0x20",
    " tty_release_struct+0x23/0x70",
    " tty_release+0xc6b/0x1390",
    " __fput+0x23b/0x910",
    " </TASK>",
)


def test_kasan_report_blames_the_access_not_the_allocation() -> None:
    crash = only_crash(console("random: crng init done", *KASAN))
    assert described(crash) == (
        "KASAN: use-after-free Read in ext4_xattr_set_entry",
        "KASAN-USE-AFTER-FREE-READ",
        "ext4_xattr_set_entry",
        ("bad-access in ext4_xattr_set_entry",),
        False,
    )
    assert not crash.panicked
    # Up to five lines of the same console context before the oops come along.
    assert crash.report.startswith("random: crng init done\n=====")
    assert "\nBUG: KASAN: use-after-free in ext4_xattr_set_entry+0x2a1/0x31e0\n" in crash.report


def test_gpf_with_rip_in_a_skipped_function_blames_the_caller() -> None:
    crash = only_crash(console(*GPF))
    # memcpy is never to blame; "? memcpy_erms" is an unreliable frame and dropped.
    assert described(crash) == (
        "general protection fault in nfc_llcp_build_tlv",
        "DoS",
        "nfc_llcp_build_tlv",
        ("bad-access in nfc_llcp_build_tlv",),
        False,
    )


def test_gpf_without_any_frame_is_corrupted() -> None:
    crash = only_crash(console(GPF[0], "RIP: 0010:0x0", "Call Trace:", " <TASK>"))
    assert crash.title == "general protection fault in corrupted"
    assert crash.corrupted
    assert crash.corrupted_reason == "extracted no frames"


def test_warning_is_titled_by_the_warning_function() -> None:
    log = console(
        "------------[ cut here ]------------",
        "WARNING: CPU: 1 PID: 5088 at net/xfrm/xfrm_state.c:2767 xfrm_state_fini+0x2f5/0x380",
        "Modules linked in:",
        "CPU: 1 PID: 5088 Comm: kworker/u4:6 Not tainted 6.2.0-syzkaller #0",
        "RIP: 0010:xfrm_state_fini+0x2f5/0x380",
        "Call Trace:",
        " <TASK>",
        " ops_exit_list+0xb0/0x170",
        " cleanup_net+0x4ee/0xb10",
        " </TASK>",
    )
    crash = only_crash(log)
    assert described(crash) == (
        "WARNING in xfrm_state_fini",
        "WARNING",
        "xfrm_state_fini",
        (),
        False,
    )


def rcu_stall(*frames: str) -> bytes:
    return console(
        "rcu: INFO: rcu_preempt self-detected stall on CPU",
        "rcu: \t0-....: (10500 ticks this GP) idle=e4a/1/0x4000000000000000",
        "NMI backtrace for cpu 0",
        "Call Trace:",
        " <IRQ>",
        " rcu_dump_cpu_stacks+0x1e2/0x240",
        " apic_timer_interrupt+0xf/0x20",
        " </IRQ>",
        "RIP: 0010:__sanitizer_cov_trace_pc+0x30/0x60",
        " __sanitizer_cov_trace_pc+0x30/0x60",
        *frames,
        " do_syscall_64+0x3b/0xb0",
        " entry_SYSCALL_64_after_hwframe+0x63/0xcd",
    )


def test_rcu_stall_blames_the_syscall_it_loops_under() -> None:
    crash = only_crash(rcu_stall(" snd_seq_loop+0x10c/0x1a0", " __x64_sys_getdents64+0x1/0x2"))
    # The frame above the syscall entry; "__x64_" is stripped for the title only.
    assert described(crash) == (
        "INFO: rcu detected stall in sys_getdents64",
        "HANG",
        "sys_getdents64",
        (
            "INFO: rcu detected stall in __x64_sys_getdents64",
            "stall in __x64_sys_getdents64",
            "stall in sys_getdents64",
        ),
        False,
    )


def test_rcu_stall_in_ioctl_blames_the_device_handler() -> None:
    log = rcu_stall(
        " snd_seq_loop+0x10c/0x1a0", " snd_seq_ioctl+0x202/0x3e0", " __x64_sys_ioctl+0x18f/0x210"
    )
    assert only_crash(log).title == "INFO: rcu detected stall in snd_seq_ioctl"


def test_hung_task_skips_scheduler_and_locking_frames() -> None:
    crash = only_crash(console(*HUNG_TASK))
    assert described(crash) == (
        "INFO: task hung in tty_release_struct",
        "HANG",
        "tty_release_struct",
        ("hang in tty_release_struct",),
        False,
    )


def test_hung_task_on_rcu_goes_to_the_synchronize_rcu_bucket() -> None:
    lines = list(HUNG_TASK)
    lines[9] = " synchronize_rcu_expedited+0x4d2/0x6b0"
    crash = only_crash(console(*lines))
    assert crash.title == "INFO: task hung in synchronize_rcu"


def test_lockdep_deadlock_blames_the_lock_being_acquired() -> None:
    log = console(
        "======================================================",
        "WARNING: possible circular locking dependency detected",
        "6.3.0-syzkaller #0 Not tainted",
        "------------------------------------------------------",
        "syz-executor.1/5432 is trying to acquire lock:",
        "ffff88807c5a0130 (&sb->s_type->i_mutex_key#14){+.+.}-{3:3}, at: "
        "inode_lock include/linux/fs.h:758 [inline]",
        "ffff88807c5a0130 (&sb->s_type->i_mutex_key#14){+.+.}-{3:3}, at: "
        "ext4_buffered_write_iter+0xb0/0x460 fs/ext4/file.c:285",
        "but task is already holding lock:",
        "ffff88802a4b8460 (sb_writers#4){.+.+}-{0:0}, at: vfs_write+0x2a1/0xd40",
        "the existing dependency chain (in reverse order) is:",
        "stack backtrace:",
        "Call Trace:",
        " lock_acquire+0x1e3/0x520",
        " down_write+0x92/0x200",
        " ext4_buffered_write_iter+0xb0/0x460",
    )
    crash = only_crash(log)
    assert crash.title == "possible deadlock in ext4_buffered_write_iter"
    assert crash.type == "LOCKDEP"
    assert crash.frame == "ext4_buffered_write_iter"
    assert not crash.corrupted


def test_panic_after_a_bug_keeps_the_bug_title_and_notes_the_panic() -> None:
    log = console(
        "------------[ cut here ]------------",
        "kernel BUG at fs/buffer.c:1312!",
        "invalid opcode: 0000 [#1] PREEMPT SMP KASAN",
        "CPU: 0 PID: 4155 Comm: syz-executor.4 Not tainted 6.0.0-syzkaller #0",
        "RIP: 0010:check_irqs_on+0x1c/0x20",
        "Call Trace:",
        " <TASK>",
        " __find_get_block+0x1f0/0x1000",
        " __getblk_gfp+0x23/0x6e0",
        " </TASK>",
        "---[ end trace 0000000000000000 ]---",
        "Kernel panic - not syncing: Fatal exception",
        "Kernel Offset: disabled",
    )
    crash = first_crash(log)
    assert crash is not None
    assert crash.title == "kernel BUG in check_irqs_on"
    assert crash.type == "BUG"
    assert crash.panicked
    assert not crash.corrupted
    # The report region runs to the end of the last oops line.
    assert crash.end == log.index(b"Kernel panic - not syncing: Fatal exception\n") + 43
    # As in syzkaller's ParseAll, every later oops line starts a report of its own.
    assert [c.title for c in parse_crashes(log)] == [
        "kernel BUG in check_irqs_on",
        "invalid opcode in check_irqs_on",
        "kernel panic: Fatal exception",
    ]


def test_lone_fatal_exception_panic_is_corrupted() -> None:
    crash = only_crash(console("Kernel panic - not syncing: Fatal exception in interrupt"))
    assert crash.title == "kernel panic: Fatal exception"
    assert crash.type == "DoS"
    assert crash.corrupted
    assert crash.corrupted_reason == "report format is marked as corrupted"
    assert crash.panicked


def test_interleaved_contexts_keep_only_the_oops_task_lines() -> None:
    lines, callers = [], []
    for line in HUNG_TASK:
        lines.append(line)
        callers.append("T37")
        if line.startswith(" __schedule"):
            # Another task prints frames in the middle of the report.
            lines += [" evil_frame+0x1/0x2", " vfs_write+0x1/0x2"]
            callers += ["T9999", "T9999"]
    crash = only_crash(console(*lines, caller=callers))
    assert crash.title == "INFO: task hung in tty_release_struct"
    assert "evil_frame" not in crash.report
    assert crash.report.startswith("INFO: task syz-executor.2:9044 blocked")


def test_a_second_report_ends_a_console_report() -> None:
    log = console(*GPF[:4], "BUG: KASAN: slab-out-of-bounds in foo+0x1/0x2", *GPF[6:])
    crash = parse_crashes(log)[0]
    # Without caller ids, lines after the second header are not this report's.
    assert crash.title == "general protection fault in corrupted"
    assert crash.corrupted


def test_suppressed_line_is_no_crash() -> None:
    log = console(
        "INFO: lockdep is turned off.",
        "WARNING: /etc/ssh/moduli does not exist, using fixed modulus",
        "general protection fault ip:7f3b4 sp:7ffd2 error:0 in libc.so.6[7f3b0+15000]",
    )
    assert not contains_crash(log)
    assert parse_crashes(log) == []
    assert first_crash(log) is None


def test_whole_log_suppression_marks_the_crash_suppressed() -> None:
    log = console(*HUNG_TASK, "Out of memory: Kill process 5 (syz-executor) score 1000")
    crash = only_crash(log)
    assert crash.title == "INFO: task hung in tty_release_struct"
    assert crash.suppressed
    assert not only_crash(console(*HUNG_TASK)).suppressed


def test_crlf_line_ends_parse_like_lf_with_offsets_into_the_input() -> None:
    lf = console("Booting...", *KASAN)
    crlf = lf.replace(b"\n", b"\r\n")
    ours, theirs = only_crash(crlf), only_crash(lf)
    assert (ours.title, ours.frame, ours.alt_titles) == (
        theirs.title,
        theirs.frame,
        theirs.alt_titles,
    )
    assert "\r" not in ours.report
    assert ours.offset == crlf.index(b"[  100.002000] BUG: KASAN: use-after-free")
    assert crlf[ours.end - 1 : ours.end + 1] == b"\r\n"


def test_two_crashes_are_both_found_in_order() -> None:
    log = (
        console(*GPF)
        + console("systemd[1]: Started foo.", start=200.0)
        + console(*HUNG_TASK, start=300.0)
    )
    first, second = parse_crashes(log)
    assert first.title == "general protection fault in nfc_llcp_build_tlv"
    assert second.title == "INFO: task hung in tty_release_struct"
    assert first.offset < second.offset < second.end <= len(log)
    assert second.offset == log.index(b"[  300.000000] INFO: task syz-executor.2:9044")
    # Each report region ends at the last oops line of the log, as syzkaller's EndPos.
    assert first.end == second.end
    assert first_crash(log) == first


def test_uptime_is_the_time_stamp_the_report_began_at() -> None:
    assert only_crash(console("random: crng init done", *KASAN)).uptime == pytest.approx(100.002)
    # Caller ids, levels, and a login prompt the oops was printed over.
    assert only_crash(console(*HUNG_TASK, caller="T37")).uptime == 100.0
    log = b"syzkaller login: <4>" + console(*GPF, start=7.25)
    assert only_crash(log).uptime == 7.25


def test_uptime_of_an_unstamped_oops_line_is_the_stamp_before_it_in_the_report() -> None:
    stamped = console("eth0: link up", start=42.0)
    log = b"executing program\n" + stamped + "\n".join(KASAN).encode() + b"\n"
    crash = only_crash(log)
    assert crash.report.startswith("executing program\n=====")
    assert crash.uptime == 42.0


def test_uptime_without_time_stamps_is_none() -> None:
    crash = only_crash("\n".join(("Booting...", *KASAN)).encode())
    assert crash.title == "KASAN: use-after-free Read in ext4_xattr_set_entry"
    assert crash.uptime is None
    assert crash.as_dict()["uptime"] is None


def test_replayed_fragment_is_titled_from_the_full_line() -> None:
    log = console("INFO: t") + b"** replaying previous printk message **\n" + console(*HUNG_TASK)
    crash = only_crash(log)
    assert crash.title == "INFO: task hung in tty_release_struct"
    assert crash.offset == log.index(b"[  100.000000] INFO: task syz-executor")


@pytest.mark.parametrize(
    "log",
    [
        b"",
        b"\n\n\r\n",
        console("Linux version 6.12.0 (builder@example.org)", "random: crng init done"),
        console("audit: type=1400 audit(1.2:3): avc: denied { read } for pid=91"),
        bytes(range(256)),
    ],
)
def test_logs_without_crashes(log: bytes) -> None:
    assert not contains_crash(log)
    assert parse_crashes(log) == []


def test_headers_are_public_and_scanned_by_one_pattern() -> None:
    assert tuple(oops.header for oops in OOPSES) == OOPS_HEADERS
    assert b"general protection fault" in OOPS_HEADERS
    for header in OOPS_HEADERS:
        found = HEADER_RE.search(b"xx " + header + b" yy")
        assert found is not None, header
    assert HEADER_RE.search(b"kernel bug: warning info panic") is None


def test_a_format_cannot_refer_past_its_captures_and_frames() -> None:
    with pytest.raises(ValueError, match="refers past its 1 arguments"):
        OopsFormat(title=pattern("BUG: (x)"), fmt=b"BUG: %[1]v in %[2]v")
    assert OopsFormat(title=pattern("BUG: (x)"), fmt=b"BUG: %[1]v").fmt == b"BUG: %[1]v"


def test_titles_are_normalised_like_syzkaller() -> None:
    raw = b"WARNING in foo.c:123 at 0xffffffff81234567 syz-executor.3 CPU#2 \tx 17"
    assert normalize(raw) == "WARNING in foo.c:LINE at ADDR syz-executor CPU x NUM"
    assert normalize(b"bug in cfg80211_rdev+0x12/0x340 of 4 items\xff, 12345678") == (
        "bug in cfg80211_rdev of NUM items, ADDR"
    )
    assert normalize(b"x" * 200) == "x" * 120


def test_crash_types_follow_the_title_prefix_table() -> None:
    assert crash_type(b"KASAN: slab-out-of-bounds Write in foo") == "KASAN-WRITE"
    assert crash_type(b"KASAN: slab-out-of-bounds in foo") == "KASAN-READ"
    assert crash_type(b"BUG: stack guard page was hit in foo") == ""
    assert crash_type(b"WARNING: something odd") == "WARNING"
    assert crash_type(b"who knows") == ""


def test_rust_frames_are_demangled() -> None:
    mangled = (
        b"_RNvXs1_CscPPBqWtAqum_11ashmem_rustNtB5_6AshmemNtNtCs43vyB533jt3_6kernel"
        b"10miscdevice10MiscDevice4mmap"
    )
    assert demangle(mangled) == b"<ashmem_rust::Ashmem as kernel::miscdevice::MiscDevice>::mmap"
    assert demangle(b"_RNvMNtCs1_4core3stre3len") == b"<str>::len"
    assert demangle(b"__x64_sys_ioctl") == b"__x64_sys_ioctl"
    assert demangle(b"_RB0_") == b"_RB0_"  # a backreference to itself
