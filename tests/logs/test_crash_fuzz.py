"""Any bytes are a log: crash parsing never raises and keeps syzkaller's invariants.

The invariants are those syzkaller's report tests check on every report: the
report region lies inside the log, parsing again from its start finds the
same title, and ``contains_crash`` agrees with parsing.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kexec_lineage.logs.crash_report import OOPS_HEADERS, contains_crash, first_crash, parse_crashes
from kexec_lineage.logs.oops_table import HEADER_RE
from tests.logs.test_syzkaller_corpus import CORPUS, corpus_cases

CORPUS_LOGS = [case.log for case in corpus_cases()] if CORPUS.is_dir() else []

# Pieces real reports are made of, so that random logs reach the deep paths.
FRAGMENTS = [
    *OOPS_HEADERS,
    b"\n",
    b"\r\n",
    b"[  12.345678] ",
    b"[  12.345678][ T4242] ",
    b"[  12.345678][    C1] ",
    b"<4>",
    b"Call Trace:\n",
    b" <TASK>\n",
    b"RIP: 0010:foo_bar+0x12/0x340\n",
    b" do_syscall_64+0x3b/0xb0\n",
    b" __x64_sys_ioctl+0x18f/0x210\n",
    b" ? memcpy+0x1/0x2\n",
    b"Allocated by task 12:\n",
    b"Freed by task 12:\n",
    b"Read of size 8 at addr ffff888012345678\n",
    b"KASAN: use-after-free in ",
    b"Kernel panic - not syncing: ",
    b"is trying to acquire lock:\n",
    b"at: lock_sock_nested+0x1/0x2\n",
    b" blocked for more than 143 seconds.\n",
    b"** replaying previous printk message **\n",
    b"Sending NMI from CPU 0 to CPUs 1:\n",
    b"_RNvXs1_CscPPBqWtAqum_11ashmem_rustNtB5_6AshmemNtNtCs43vyB533jt3_6kernel",
    b"\xff\xfe\x00\t",
]
soups = st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=12), max_size=60).map(b"".join)


def check_invariants(log: bytes) -> None:
    crashes = parse_crashes(log)
    assert contains_crash(log) == bool(crashes)
    assert first_crash(log) == (crashes[0] if crashes else None)
    for previous, crash in zip([None, *crashes], crashes, strict=False):
        assert 0 <= crash.offset < crash.end <= len(log)
        assert crash.uptime is None or crash.uptime >= 0
        assert previous is None or previous.offset < crash.offset
        again = first_crash(log[crash.offset :])
        assert again is not None
        assert again.title == crash.title
        assert crash.title == crash.title.strip()
        assert len(crash.title) <= 120
        assert crash.title.isascii()


@settings(max_examples=2000)
@given(st.binary(max_size=4096))
def test_random_bytes(log: bytes) -> None:
    check_invariants(log)


@settings(max_examples=2500)
@given(soups)
def test_report_fragment_soup(log: bytes) -> None:
    check_invariants(log)


@st.composite
def mutated_corpus_logs(draw: st.DrawFn) -> bytes:
    log = draw(st.sampled_from(CORPUS_LOGS))
    for _ in range(draw(st.integers(1, 4))):
        cut = draw(st.integers(0, len(log)))
        operation = draw(st.sampled_from(["truncate", "drop", "insert", "splice", "flip"]))
        if operation == "truncate":
            log = log[:cut]
        elif operation == "drop":
            log = log[:cut] + log[cut + draw(st.integers(1, 2000)) :]
        elif operation == "insert":
            log = log[:cut] + draw(soups | st.binary(max_size=64)) + log[cut:]
        elif operation == "splice":
            other = draw(st.sampled_from(CORPUS_LOGS))
            log = log[:cut] + other[draw(st.integers(0, len(other))) :]
        elif log:
            at = min(cut, len(log) - 1)
            log = log[:at] + bytes([log[at] ^ draw(st.integers(1, 255))]) + log[at + 1 :]
    return log


@pytest.mark.skipif(not CORPUS_LOGS, reason=f"syzkaller corpus not found at {CORPUS}")
@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_corpus_logs())
def test_mutated_corpus_logs(log: bytes) -> None:
    check_invariants(log)


@settings(max_examples=2000)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8).map(str.encode)).map(b"".join))
def test_header_scan_finds_exactly_the_header_lines(text: bytes) -> None:
    for line in text.split(b"\n"):
        assert (HEADER_RE.search(line) is not None) == any(h in line for h in OOPS_HEADERS)
