"""
Crash titles
------------

Turning what a format captured into the title syzkaller would file the crash
under, and classifying titles (``pkg/report``: ``dynamicTitleReplacement``,
``sanitizeTitle``, ``reportFrameRe``; ``pkg/report/crash``: ``TitleToType``).

Normalisation replaces what differs between two runs of the same bug
(executor ids, addresses, line numbers, offsets, CPU and other numbers), so
that equal bugs get equal titles; each rewrite is repeated until it no longer
changes the title, because matches can overlap (``0,1,2``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

__all__ = (
    "arguments_used",
    "crash_type",
    "has_timestamp",
    "normalize",
    "render",
    "title_frame",
)

_REWRITES: Final = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (rb"syz-executor\.?[0-9]+((/|:)[0-9]+)?", b"syz-executor"),
        (rb"syzkaller[0-9]+((/|:)[0-9]+)?", b"syzkaller"),
        # Anything that looks like an address.
        (rb"([^a-zA-Z0-9])(?:0x)?[0-9a-f]{6,}", rb"\1ADDR"),
        (rb"([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})", b"IP"),
        (rb"(\.\w+)(:[0-9]+)+", rb"\1:LINE"),
        # "ip6_fragment+0x1052/0x2d80": offsets and sizes are not stable.
        (rb"([a-zA-Z][a-zA-Z0-9_.]+)\+0x[0-9a-z]+/0x[0-9a-z]+", rb"\1"),
        (rb"CPU#[0-9]+", b"CPU"),
        (rb"(\W)(\d+)(\W|$)", rb"\1NUM\3"),
        # Digits inside names are kept (cfg80211, nl802154) unless there are too many.
        (rb"\d{7,}", b"NUM"),
    )
)
# Corrupted or intermixed lines can be very long.
_MAX_TITLE: Final = 120
_PRINTABLE: Final = bytes(range(0x20, 0x7F))
_DROPPED: Final = bytes(c for c in range(256) if c not in _PRINTABLE and c != 0x09)
_SPACES: Final = re.compile(rb" {2,}")
_VERB: Final = re.compile(rb"%\[([0-9]+)\][vs]")
_FRAME: Final = re.compile(r".* in ((?:<[a-zA-Z0-9_: ]+>)?[a-zA-Z0-9_:]+)")
_TIMESTAMP: Final = re.compile(rb"\[ *[0-9]+\.[0-9]+\]")

# Title prefix to syzkaller crash type, first match wins; "" is UNKNOWN.
_TYPES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("KFENCE-USE-AFTER-FREE-WRITE", ("KFENCE: use-after-free write",)),
    ("KFENCE-USE-AFTER-FREE-READ", ("KFENCE: use-after-free read", "KFENCE: use-after-free")),
    ("KFENCE-WRITE", ("KFENCE: invalid write", "KFENCE: out-of-bounds write")),
    (
        "KFENCE-READ",
        ("KFENCE: invalid read", "KFENCE: out-of-bounds read", "KFENCE: out-of-bounds"),
    ),
    ("KFENCE-MEMORY-CORRUPTION", ("KFENCE: memory corruption",)),
    ("KFENCE-INVALID-FREE", ("KFENCE: invalid free",)),
    ("KMSAN-UNINIT-VALUE", ("KMSAN: uninit-value",)),
    (
        "KMSAN-USE-AFTER-FREE-READ",
        ("KMSAN: kernel-infoleak-after-free", "KMSAN: kernel-usb-infoleak-after-free",
         "KMSAN: use-after-free"),
    ),
    ("KMSAN-INFO-LEAK", ("KMSAN: kernel-infoleak", "KMSAN: kernel-usb-infoleak")),
    ("KASAN-NULL-POINTER-DEREFERENCE-WRITE", ("KASAN: null-ptr-deref Write",)),
    ("KASAN-NULL-POINTER-DEREFERENCE-READ", ("KASAN: null-ptr-deref Read",)),
    ("NULL-POINTER-DEREFERENCE", ("BUG: unable to handle kernel NULL pointer dereference in",)),
    (
        "KASAN-WRITE",
        ("KASAN: global-out-of-bounds Write", "KASAN: out-of-bounds Write",
         "KASAN: slab-out-of-bounds Write", "KASAN: stack-out-of-bounds Write",
         "KASAN: user-memory-access Write", "KASAN: vmalloc-out-of-bounds Write",
         "KASAN: wild-memory-access Write"),
    ),
    (
        "KASAN-READ",
        ("KASAN: global-out-of-bounds Read", "KASAN: invalid-access Read",
         "KASAN: out-of-bounds Read", "KASAN: slab-out-of-bounds Read",
         "KASAN: slab-out-of-bounds", "KASAN: stack-out-of-bounds Read",
         "KASAN: stack-out-of-bounds", "KASAN: unknown-crash Read",
         "KASAN: user-memory-access Read", "KASAN: vmalloc-out-of-bounds Read",
         "KASAN: wild-memory-access Read", "KASAN: wild-memory-access"),
    ),
    ("KASAN-INVALID-FREE", ("KASAN: double-free or invalid-free", "KASAN: invalid-free")),
    (
        "KASAN-USE-AFTER-FREE-WRITE",
        ("KASAN: slab-use-after-free Write", "KASAN: use-after-free Write"),
    ),
    (
        "KASAN-USE-AFTER-FREE-READ",
        ("KASAN: slab-use-after-free Read", "KASAN: use-after-free Read", "KASAN: use-after-free"),
    ),
    ("MEMORY_SAFETY_BUG", ("BUG: corrupted list", "BUG: unable to handle kernel paging request")),
    ("REFCOUNT_WARNING", ("WARNING: refcount bug",)),
    ("MEMORY_SAFETY_UBSAN", ("UBSAN: array-index-out-of-bounds",)),
    ("KCSAN-DATARACE", ("KCSAN: data-race",)),
    ("KCSAN-ASSERT", ("KCSAN: assert: race in",)),
    (
        "LOCKDEP",
        ("BUG: bad unlock balance in", "BUG: held lock freed in", "BUG: rwlock", "BUG: spinlock",
         "BUG: still has locks held in", "BUG: using", "WARNING: bad unlock balance in",
         "WARNING: held lock freed in", "WARNING: lock held", "WARNING: locking bug in",
         "WARNING: nested lock was not taken in", "WARNING: still has locks held in",
         "WARNING: suspicious RCU usage in", "inconsistent lock state in",
         "possible deadlock in"),
    ),
    (
        "ATOMIC_SLEEP",
        ("BUG: scheduling while atomic in",
         "BUG: sleeping function called from invalid context in"),
    ),
    ("LEAK", ("memory leak in",)),
    ("BUG", ("BUG: bad usercopy in", "kernel BUG")),
    ("WARNING", ("WARNING in",)),
    (
        "",  # printk() of a bad state, not a bug class of its own.
        ("BUG: stack guard page was hit in", "WARNING: corrupted",
         "WARNING: kernel stack frame pointer has bad value", "WARNING: kernel stack regs has bad"),
    ),
    (
        "HANG",
        ("BUG: soft lockup in", "INFO: rcu detected stall in", "INFO: task can't die in",
         "INFO: task hung in"),
    ),
    (
        "DoS",
        ("Alignment trap in", "BUG: Object already free", "Internal error in",
         "PANIC: double fault", "Unhandled fault in",
         "VFS: Busy inodes after unmount (use-after-free)",
         "VFS: Close: file count is zero (use-after-free)", "divide error in",
         "general protection fault in", "go runtime error", "int3 in", "invalid opcode in",
         "kernel panic:", "kernel stack overflow", "panic:", "rust_kernel panicked",
         "stack segment fault in", "trusty:",
         "unregister_netdevice: waiting for DEV to become free"),
    ),
    ("REBOOT", ("unexpected kernel reboot",)),
    ("SYZ_FAILURE", ("SYZFAIL", "SYZFATAL:")),
    # Defaults for titles no row above knows.
    ("WARNING", ("WARNING:",)),
    ("", ("BUG:", "INFO:")),
    ("KASAN-UNKNOWN", ("KASAN:",)),
    ("KFENCE-UNKNOWN", ("KFENCE:",)),
    ("KMSAN-UNKNOWN", ("KMSAN:",)),
    ("UBSAN", ("UBSAN:",)),
    ("KCSAN-UNKNOWN", ("KCSAN:",)),
)  # fmt: skip


def render(fmt: bytes, args: Sequence[bytes]) -> bytes:
    """Fill a syzkaller format (``%[2]v``: the second argument) with ``args``."""
    return _VERB.sub(lambda verb: args[int(verb[1]) - 1], fmt)


def arguments_used(fmt: bytes) -> int:
    """The highest argument a format refers to (0 for a fixed title)."""
    return max((int(verb[1]) for verb in _VERB.finditer(fmt)), default=0)


def normalize(raw: bytes) -> str:
    """The title syzkaller files ``raw`` under: stable, printable, at most 120 characters."""
    for rewrite, replacement in _REWRITES:
        while (changed := rewrite.sub(replacement, raw)) != raw:
            raw = changed
    printable = raw[:_MAX_TITLE].replace(b"\t", b" ").translate(None, _DROPPED)
    return _SPACES.sub(b" ", printable).strip(b" ").decode("ascii")


def crash_type(raw: bytes) -> str:
    """syzkaller's crash type for a title, ``""`` for UNKNOWN."""
    title = raw.decode("latin-1")
    for name, prefixes in _TYPES:
        if title.startswith(prefixes):
            return name
    return ""


def title_frame(title: str) -> str:
    """The function a title blames: what follows its last `` in ``."""
    match = _FRAME.match(title)
    return "" if match is None else match[1]


def has_timestamp(raw: bytes) -> bool:
    """Whether a console timestamp got merged into the title (interleaved output)."""
    return _TIMESTAMP.search(raw) is not None
