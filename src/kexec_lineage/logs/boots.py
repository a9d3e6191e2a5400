"""
Boots in a log
--------------

A log that spans several boots is split at each ``Linux version ...`` banner
(or at the boundaries the source knows: journal boot ids, netconsole
releases). For each boot this keeps the evidence that rebuilds a host's chain
from logs alone: the release, the command line with kexec-lineage's own
parameters, the ``KHO: exec from: X (count N)`` line and KHO's other lines,
and how the boot ended. Whole-buffer regular expressions do the work, so a
large log is never split into Python lines.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from kexec_lineage.abi.cmdline import LineageParams, parse_params
from kexec_lineage.logs.console import BootMark, ConsoleLog
from kexec_lineage.model.text import from_kernel

__all__ = ("ENDINGS", "LogBoot", "boot_index", "split_boots", "uptime_seconds")

# Every pattern starts with a literal, which re finds at memchr speed; what
# may stand before it on its line is checked afterwards (_at_line_start).
_BANNER_RE = re.compile(rb"Linux version (\S+) \(")
_KERNEL_LINE_RE = re.compile(rb"^(?:<\d+>)?\[\s*\d+\.\d+\]", re.M)
_CMDLINE_RE = re.compile(rb"ommand line: ?([^\r\n]*)")
_KHO_RE = re.compile(rb"KHO: ([^\r\n]*)")
_EXEC_FROM_RE = re.compile(r"exec from: (.*) \(count (\d+)\)")
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

    ``start``/``end`` are offsets in the log's text. ``started`` is ``cold``,
    ``kexec`` or ``kdump``, with the evidence for it in ``start_evidence``
    (empty: nothing says kexec, so cold). ``ended`` is ``panic``, ``kdump``
    (panic, then the crash kernel), ``kexec``, ``reboot``, ``poweroff``,
    ``halt``, or ``None`` when the log stops or the machine reset silently.
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
    started: str
    start_evidence: tuple[str, ...]
    boot_id: str | None = None

    @property
    def kho_line(self) -> str | None:
        """The kernel's ``KHO: exec from:`` line, if this boot logged one."""
        if self.kho_exec_from is None:
            return None
        return f"KHO: exec from: {self.kho_exec_from} (count {self.kho_count})"


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
        params = parse_params(cmdline or "")
        started, evidence = _how_started(cmdline, exec_from is not None, params, boots)
        boots.append(
            LogBoot(
                index=len(boots),
                start=start,
                end=end,
                release=release,
                cmdline=cmdline,
                params=params,
                kho_exec_from=exec_from.group(1) if exec_from else None,
                kho_count=int(exec_from.group(2)) if exec_from else None,
                kho_lines=kho_lines,
                ended=_ending(text, start, end),
                started=started,
                start_evidence=evidence,
                boot_id=mark.boot_id if mark else None,
            )
        )
    return boots


def _how_started(
    cmdline: str | None, kho: bool, params: LineageParams, before: list[LogBoot]
) -> tuple[str, tuple[str, ...]]:
    if cmdline is not None and "elfcorehdr=" in cmdline:
        return "kdump", ("elfcorehdr= on the command line",)
    previous = before[-1].ended if before else None
    if previous in ("reboot", "poweroff", "halt") and not kho:
        # A firmware boot in between: parameters on this command line are stale.
        return "cold", (f"previous boot ended in {previous}",)
    evidence = []
    if kho:
        evidence.append("KHO exec from line")
    if params.present:
        evidence.append("kexec_lineage parameters")
    if previous == "kexec":
        evidence.append("previous boot ended in kexec")
    return ("kexec" if evidence else "cold"), tuple(evidence)


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
