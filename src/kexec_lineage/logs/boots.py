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
from dataclasses import dataclass

from kexec_lineage.abi.cmdline import LineageParams, parse_params
from kexec_lineage.logs.console import BootMark, ConsoleLog
from kexec_lineage.model.text import from_kernel

__all__ = ("ENDINGS", "LogBoot", "boot_index", "split_boots")

# The banner at the start of a line, after the kernel's prefixes. Console
# text has banners glued to firmware output split off already.
_BANNER_RE = re.compile(rb"^(?:<\d+>)?(?:\[[^\]\n]{1,40}\][ \t]*){0,2}Linux version (\S+) \(", re.M)
_KERNEL_LINE_RE = re.compile(rb"^(?:<\d+>)?\[\s*\d+\.\d+\]", re.M)
_CMDLINE_RE = re.compile(rb"(?:Kernel )?[Cc]ommand line: ?([^\r\n]*)")
_KHO_RE = re.compile(rb"KHO: ([^\r\n]*)")
_EXEC_FROM_RE = re.compile(r"exec from: (.*) \(count (\d+)\)")
# What each way of ending a boot prints last, as (ending, pattern).
ENDINGS: tuple[tuple[str, bytes], ...] = (
    ("panic", rb"Kernel panic - not syncing"),
    ("kdump", rb"Starting crashdump kernel"),
    (
        "kexec",
        rb"(?:kexec_core|kexec): Starting new kernel|^(?:\[[^\]\n]*\][ \t]*)*Starting new kernel",
    ),
    ("reboot", rb"reboot: Restarting system|^(?:\[[^\]\n]*\][ \t]*)*Restarting system\."),
    ("poweroff", rb"reboot: Power down|^(?:\[[^\]\n]*\][ \t]*)*Power down\."),
    ("halt", rb"reboot: System halted|^(?:\[[^\]\n]*\][ \t]*)*System halted\."),
)
_ENDING_RE = re.compile(
    b"|".join(b"(?P<%s>%s)" % (name.encode(), pat) for name, pat in ENDINGS), re.M
)


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
    if log.marks:
        starts: list[tuple[int, BootMark | None]] = [(m.offset, m) for m in log.marks]
        if starts[0][0] > 0:
            starts.insert(0, (0, None))
        return starts
    starts = [(_line_start(log.text, m.start()), None) for m in _BANNER_RE.finditer(log.text)]
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


def _ending(chunk: bytes) -> str | None:
    found = [m.lastgroup for m in _ENDING_RE.finditer(chunk)]
    if "panic" in found:
        # A panic ends the boot whatever follows ("Rebooting in N seconds").
        return "kdump" if "kdump" in found else "panic"
    return found[-1] if found else None


def split_boots(log: ConsoleLog) -> list[LogBoot]:
    """The boots in ``log``, in order; text before the first banner is boot 0."""
    text = log.text
    starts = _boundaries(log)
    boots: list[LogBoot] = []
    for index, (start, mark) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(text)
        if start == end and index + 1 < len(starts):
            continue
        chunk = text[start:end]
        banner = _BANNER_RE.search(chunk)
        release = from_kernel(banner.group(1)) if banner else (mark.release if mark else None)
        cmd = _CMDLINE_RE.search(chunk)
        cmdline = from_kernel(cmd.group(1)).strip() if cmd else None
        kho_lines = tuple(from_kernel(m.group(1)).rstrip() for m in _KHO_RE.finditer(chunk))
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
                ended=_ending(chunk),
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


def boot_index(boots: list[LogBoot], offset: int) -> int:
    """Index of the boot that holds ``offset``."""
    return max(0, bisect.bisect_right([b.start for b in boots], offset) - 1)
