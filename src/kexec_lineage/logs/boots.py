"""
Boots in a log
--------------

A log that spans several boots is split at each ``Linux version ...`` banner
(or at the boundaries the source knows: journal boot ids, netconsole
releases). For each boot this keeps the evidence that rebuilds a host's chain
from logs alone: the release, the command line with kexec-lineage's own
parameters, the ``KHO: exec from: X (count N)`` line and KHO's other lines,
how the boot ended, and the machine's DMI string (firmware is updated between
boots). Whole-buffer regular expressions do the work, so a large log is never
split into Python lines.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from kexec_lineage.abi.cmdline import parse_params
from kexec_lineage.logs.console import BootMark, ConsoleLog
from kexec_lineage.logs.hardware import facts_from_hardware_line
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.lineage import (
    CMDLINE,
    KHO_LOG,
    LOG,
    Followers,
    KhoEvidence,
    LineageParams,
    PreviousLog,
    Sighting,
    Weighed,
    weigh,
)
from kexec_lineage.model.text import from_kernel, printable

__all__ = ("ENDINGS", "LogBoot", "boot_index", "split_boots", "uptime_seconds")

# Every pattern starts with a literal, which re finds at memchr speed; what
# may stand before it on its line is checked afterwards (_at_line_start).
_BANNER_RE = re.compile(rb"Linux version (\S+) \(")
_KERNEL_LINE_RE = re.compile(rb"^(?:<\d+>)?\[\s*\d+\.\d+\]", re.M)
_CMDLINE_RE = re.compile(rb"ommand line: ?([^\r\n]*)")
_KHO_RE = re.compile(rb"KHO: ([^\r\n]*)")
_EXEC_FROM_RE = re.compile(r"exec from: (.*) \(count (\d+)\)")
# Printed once early in each boot, and again in every oops or warning.
_HARDWARE_RE = re.compile(rb"(DMI|Hardware name): ([^\r\n]*)")
# The kernel's own prefixes: level, time stamp, caller id.
_PREFIXES_RE = re.compile(rb"(?:<\d+>)?(?:\[[^\]\n]{1,40}\][ \t]*){0,2}")
#: How each way of ending a boot shows in the log: (ending, message, what may
#: precede the message on its line after the kernel's prefixes; None: anything).
ENDINGS: tuple[tuple[str, bytes, tuple[bytes, ...] | None], ...] = (
    ("panic", b"Kernel panic - not syncing", None),
    ("kdump", b"Starting crashdump kernel", None),
    ("kexec", b"Starting new kernel", (b"", b"kexec_core: ", b"kexec: ")),
    ("reboot", b"Restarting system", (b"", b"reboot: ")),
    ("poweroff", b"Power down", (b"", b"reboot: ")),
    ("halt", b"System halted", (b"", b"reboot: ")),
)
_ENDING_RES = tuple((name, re.compile(re.escape(text)), lead) for name, text, lead in ENDINGS)
_STAMP_RE = re.compile(rb"\[\s*(\d{1,10})\.(\d{1,9})\]")


@dataclass(frozen=True, slots=True)
class LogBoot:
    """One boot as a log shows it.

    ``start``/``end`` are offsets in the log's text. ``ended`` is ``panic``,
    ``kdump`` (panic, then the crash kernel), ``kexec``, ``reboot``,
    ``poweroff``, ``halt``, or ``None`` when the log stops or the machine reset
    silently. ``previous_log`` is the boot before in the same log, as evidence
    of how this one began. ``started`` is ``cold``, ``kexec`` or ``kdump`` as
    :func:`kexec_lineage.model.lineage.weigh` judges this evidence, with what
    says so in ``start_evidence`` (empty: nothing says kexec, so cold).
    ``facts`` are the host facts its DMI string gives (``dmi.bios_version``, ...;
    :func:`~kexec_lineage.logs.hardware.facts_from_hardware_line`).
    """

    index: int
    start: int
    end: int
    release: str | None
    cmdline: str | None
    params: LineageParams
    kho_exec_from: str | None
    kho_count: int | None
    kho_lines: tuple[str, ...]
    ended: str | None
    previous_log: PreviousLog | None = None
    started: str = "cold"
    start_evidence: tuple[str, ...] = ()
    boot_id: str | None = None
    facts: Mapping[str, str] = field(default_factory=dict)

    @property
    def kho_line(self) -> str | None:
        """The kernel's ``KHO: exec from:`` line, if this boot logged one."""
        if self.kho_exec_from is None:
            return None
        return f"KHO: exec from: {self.kho_exec_from} (count {self.kho_count})"

    def sighting(
        self,
        host: str,
        boot_id: str,
        previous: Boot | None = None,
        recorded: Mapping[str, str | None] | None = None,
    ) -> Sighting:
        """This boot for the lineage rules, as boot ``boot_id`` of ``host``; ``previous``
        is the boot it followed, ``recorded`` the ids of the boots before it."""
        return Sighting(
            host,
            boot_id,
            self.release or "unknown",
            crash_kernel=self.cmdline is not None and "elfcorehdr=" in self.cmdline,
            kho=KhoEvidence(
                log_lines=self.kho_lines,
                log_exec_from=self.kho_exec_from,
                log_count=self.kho_count,
            ),
            params=self.params,
            previous_log=self.previous_log,
            previous=previous,
            recorded={} if recorded is None else recorded,
        )


def _boundaries(log: ConsoleLog) -> list[tuple[int, BootMark | None]]:
    """Start offsets of boots: source marks where the source has them, else banners."""
    starts: list[tuple[int, BootMark | None]]
    if log.marks:
        starts = [(m.offset, m) for m in log.marks]
        if starts[0][0] > 0:
            starts.insert(0, (0, None))
        return starts
    starts = [
        (_line_start(log.text, m.start()), None)
        for m in _BANNER_RE.finditer(log.text)
        if _lead(log.text, m.start()) == b""
    ]
    if not starts:
        return [(0, None)]
    if starts[0][0] > 0:
        # Kernel lines before the first banner are the tail of an earlier
        # boot; anything else (firmware, boot loader) belongs to the first.
        if _KERNEL_LINE_RE.search(log.text, 0, starts[0][0]):
            starts.insert(0, (0, None))
        else:
            starts[0] = (0, None)
    return starts


def _line_start(text: bytes, pos: int) -> int:
    return text.rfind(b"\n", 0, pos) + 1


def _lead(text: bytes, pos: int) -> bytes:
    """What stands before ``pos`` on its line once the kernel's prefixes are gone."""
    start = _line_start(text, pos)
    prefixes = _PREFIXES_RE.match(text, start, pos)
    return text[prefixes.end() if prefixes else start : pos]


def _is_cmdline(text: bytes, match: re.Match[bytes]) -> bool:
    # "Command line:" (x86 setup_arch) or "Kernel command line:" (every arch).
    at = match.start() - 1
    return at >= 0 and text[at] in b"Cc" and _lead(text, at) in (b"", b"Kernel ")


def _ending(text: bytes, start: int, end: int) -> str | None:
    found: list[tuple[int, str]] = []
    for name, pattern, lead in _ENDING_RES:
        found += [
            (m.start(), name)
            for m in pattern.finditer(text, start, end)
            if lead is None or _lead(text, m.start()) in lead
        ]
    names = {name for _, name in found}
    if "panic" in names:
        # A panic ends the boot whatever follows ("Rebooting in N seconds").
        return "kdump" if "kdump" in names else "panic"
    return max(found)[1] if found else None


def split_boots(log: ConsoleLog) -> list[LogBoot]:
    """The boots in ``log``, in order; text before the first banner is boot 0."""
    text = log.text
    starts = _boundaries(log)
    boots: list[LogBoot] = []
    # Boot ids the source gave (journal), for the lineage rules' stale-parameter check.
    recorded = Followers()
    for index, (start, mark) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(text)
        if start == end and index + 1 < len(starts):
            continue
        banner = next(
            (m for m in _BANNER_RE.finditer(text, start, end) if _lead(text, m.start()) == b""),
            None,
        )
        release = from_kernel(banner.group(1)) if banner else (mark.release if mark else None)
        cmd = next(
            (m for m in _CMDLINE_RE.finditer(text, start, end) if _is_cmdline(text, m)), None
        )
        cmdline = from_kernel(cmd.group(1)).strip() if cmd else None
        kho_lines = tuple(
            from_kernel(m.group(1)).rstrip() for m in _KHO_RE.finditer(text, start, end)
        )
        exec_from = next((m for line in kho_lines if (m := _EXEC_FROM_RE.fullmatch(line))), None)
        before = boots[-1] if boots else None
        boot = LogBoot(
            index=len(boots),
            start=start,
            end=end,
            release=release,
            cmdline=cmdline,
            params=parse_params(cmdline or ""),
            kho_exec_from=exec_from.group(1) if exec_from else None,
            kho_count=int(exec_from.group(2)) if exec_from else None,
            kho_lines=kho_lines,
            ended=_ending(text, start, end),
            previous_log=None
            if before is None
            else PreviousLog(LOG, log.origin, before.ended, before.release),
            boot_id=mark.boot_id if mark else None,
            facts=_facts(text, start, end),
        )
        weighed = weigh(boot.sighting("", boot.boot_id or "", recorded=recorded))
        if boot.boot_id:
            recorded.add(boot.boot_id)
        started = _start_evidence(weighed, boot.previous_log)
        boots.append(replace(boot, started=weighed.how, start_evidence=started))
    return boots


def _facts(text: bytes, start: int, end: int) -> dict[str, str]:
    """From the boot's first ``DMI:`` line, else its first ``Hardware name:`` line;
    the search stops at the DMI line, which comes early."""
    fallback: dict[str, str] = {}
    for m in _HARDWARE_RE.finditer(text, start, end):
        if _lead(text, m.start()) != b"":
            continue
        facts = facts_from_hardware_line(printable(from_kernel(m.group(2))))
        if facts and m.group(1) == b"DMI":
            return facts
        fallback = fallback or facts
    return fallback


def _start_evidence(weighed: Weighed, previous_log: PreviousLog | None) -> tuple[str, ...]:
    """What says how the boot began, in a few words each (cold: what says it was not a kexec)."""
    out = []
    for e in weighed.evidence:
        if e.kexec is None:
            continue
        if e.source == LOG and previous_log is not None:
            out.append(f"previous boot ended in {previous_log.ended}")
        elif e.source == CMDLINE:
            out.append("kexec_lineage parameters")
        elif e.source == KHO_LOG and e.previous_release is not None:
            out.append("KHO exec from line")
        else:
            out.append(e.detail)
    return tuple(out)


def boot_index(starts: Sequence[int], offset: int) -> int:
    """Index of the boot that holds ``offset``, given where each boot starts."""
    return max(0, bisect.bisect_right(starts, offset) - 1)


def uptime_seconds(text: bytes, boot: LogBoot) -> float | None:
    """The boot's last kernel time stamp: how long it had been up when its log
    stops (at its crash, for a dump the crash left)."""
    pos = boot.end
    while (pos := text.rfind(b"[", boot.start, pos)) >= 0:
        stamp = _STAMP_RE.match(text, pos)
        if stamp:
            fraction = stamp.group(2)
            return int(stamp.group(1)) + int(fraction) / 10.0 ** len(fraction)
    return None
