"""
Crash reports
-------------

Finding kernel crash reports in a console log and titling them exactly as
syzkaller's ``pkg/report`` does for Linux (``Parse``, ``ParseAll``,
``ContainsCrash``), so that a crash seen on a fleet host and one on syzbot's
dashboard can be matched by title.

The log is scanned once with a single regexp of all oops headers (see
:data:`OOPS_HEADERS`); only lines with a hit are looked at more closely, so a
crash-free log costs one C-speed pass. From the first real oops line, the
report is collected from the lines of the same printk context (interleaved
CPUs and tasks dropped), titled by the first matching format of the oops
table, and checked for signs of truncation. Arbitrary bytes are accepted:
anything that is not a crash report is just log.

Two things differ from syzkaller on purpose. A report is looked for within a
megabyte of its oops line, where syzkaller reads to the end of the log: that
changes nothing for real reports and keeps a log with thousands of crashes
linear. And an oops line that the kernel cut short and printed again (``**
replaying previous printk message **``, as newer syzkaller handles it) does
not count, in :func:`contains_crash` as well, so that it agrees with parsing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from kexec_lineage.logs.frames import Frame, raw_variants, stack_trace_problem
from kexec_lineage.logs.oops_table import (
    HEADER_RE,
    INFO_WITH_STACK,
    LOG_SUPPRESSIONS,
    OOPS_HEADERS,
    REPLAYED_LINE,
    REPORT_START_IGNORES,
    Oops,
    OopsFormat,
    matching_oops,
)
from kexec_lineage.logs.printk_lines import (
    CONSOLE,
    Line,
    is_cpu_context,
    is_task_context,
    line_at,
    line_before,
    printk_context,
    strip_prefix,
    time_stamp,
)
from kexec_lineage.logs.titles import crash_type, has_timestamp, normalize, render, title_frame
from kexec_lineage.model.crash import Crash

__all__ = ("OOPS_HEADERS", "contains_crash", "first_crash", "parse_crashes")

_PANIC: Final = b"Kernel panic - not syncing"
# A GCE serial console that dropped: the report before it is likely cut short.
_CONSOLE_HANGUP: Final = b"serialport: VM disconnected."
_LOCKDEP_SPLAT: Final = b"WARNING: possible circular locking dependency detected"
_NO_FRAMES: Final = "extracted no frames"
# How far from its oops line a report is looked for, both ways. syzkaller
# reads to the end of the log; real reports are a few hundred lines, and the
# bound keeps a log with thousands of crashes linear rather than quadratic.
_WINDOW: Final = 1 << 20


def parse_crashes(log: bytes) -> list[Crash]:
    """Every crash report in ``log``, in order (syzkaller ``ParseAll``)."""
    crashes: list[Crash] = []
    facts = _LogFacts(log)
    base = 0
    while (parsed := _parse_from(facts, base)) is not None:
        crash, base = parsed
        crashes.append(crash)
    return crashes


def first_crash(log: bytes) -> Crash | None:
    """The first crash report in ``log`` (syzkaller ``Parse``)."""
    parsed = _parse_from(_LogFacts(log), 0)
    return None if parsed is None else parsed[0]


def contains_crash(log: bytes) -> bool:
    """Whether ``log`` holds a crash report at all (syzkaller ``ContainsCrash``)."""
    return _first_oops(log, 0) is not None


@dataclass(slots=True)
class _LogFacts:
    """Whole-log properties that every report in it shares, computed once."""

    log: bytes
    _suppressed: bool | None = field(default=None, init=False)
    _hangup: bool | None = field(default=None, init=False)
    _last_panic: int | None = field(default=None, init=False)

    @property
    def suppressed(self) -> bool:
        if self._suppressed is None:
            self._suppressed = LOG_SUPPRESSIONS.search(self.log) is not None
        return self._suppressed

    @property
    def hangup(self) -> bool:
        """A console hang-up anywhere in the log corrupts every report in it."""
        if self._hangup is None:
            self._hangup = _CONSOLE_HANGUP in self.log
        return self._hangup

    def panicked_after(self, base: int) -> bool:
        """Whether the kernel panicked at or after ``base``: one search from the
        end serves every report, where a search per report from its own start
        would read the rest of the log again each time."""
        if self._last_panic is None:
            self._last_panic = self.log.rfind(_PANIC)
        return self._last_panic >= base


@dataclass(slots=True)
class _Collected:
    """The report text of one oops: lines of its context, without console prefixes.

    ``start`` is where the first line of ``prefix`` begins in the log (the oops
    line's start without one); ``title_end`` is where titling stops (at a second
    report when there is no caller id to tell reports apart); ``end`` is the end
    of the last oops line.
    """

    prefix: list[bytes]
    start: int
    text: bytes
    title_end: int
    end: int


@dataclass(slots=True)
class _Description:
    """A title before normalisation, why the report is corrupted, and the format used."""

    title: bytes
    reason: str
    alts: list[bytes]
    format: OopsFormat | None


def _first_oops(log: bytes, base: int) -> tuple[Oops, Line] | None:
    """The first line from ``base`` on that starts a report, and its kind."""
    pos = base
    while (hit := HEADER_RE.search(log, pos)) is not None:
        line = line_at(log, log.rfind(b"\n", base, hit.start()) + 1 or base)
        oops = matching_oops(line.text)
        if oops is not None and not _replayed(log, line):
            return oops, line
        pos = line.next_start
    return None


def _replayed(log: bytes, line: Line) -> bool:
    """Whether the kernel printed ``line`` again because a console takeover cut it."""
    return REPLAYED_LINE.match(log, line.next_start) is not None


def _parse_from(facts: _LogFacts, base: int) -> tuple[Crash, int] | None:
    """The first crash from ``base`` on, and where to look for the next (syzkaller ParseFrom)."""
    log = facts.log
    found = _first_oops(log, base)
    if found is None:
        return None
    oops, first = found
    collected = _collect(log, base, first)
    prefix, report, start = collected.prefix, collected.text, collected.start
    described = _describe(report[: collected.title_end], oops)
    if not described.title:
        # The header was in the part of the oops line taken as console prefix.
        prefix, report, start = [], log[first.start : collected.end], first.start
        described = _describe(report, oops)
    reason = described.reason or _corruption(described, report)
    title = normalize(described.title)
    crash = Crash(
        title=title,
        alt_titles=tuple(sorted(normalize(alt) for alt in described.alts)),
        type=crash_type(described.title),
        frame=title_frame(title),
        corrupted=bool(reason) or facts.hangup,
        corrupted_reason=reason,
        suppressed=facts.suppressed,
        panicked=facts.panicked_after(base),
        report=b"".join(line + b"\n" for line in prefix).decode(errors="replace")
        + report.decode(errors="replace"),
        offset=first.start,
        end=max(collected.end, first.end),
        # The oops line's stamp, else the nearest one before it, back to the report's start.
        uptime=time_stamp(log, start, first.end),
    )
    return crash, first.end


def _collect(log: bytes, base: int, first: Line) -> _Collected:
    """The oops line and what follows in its context, plus a few lines before it."""
    context = printk_context(first.text)
    # Only a caller id tells a second report's lines from this one's.
    keep_all = context not in (b"", CONSOLE)
    # panic_on_warn and lockdep splats provoked by the oops repeat its stack:
    # cut them once the report has this many lines (KMSAN reports are shorter).
    enough = 16 if b"BUG: KMSAN:" in first.text else 22
    prefix, start = _prefix(log, base, first, context)
    collected = _Collected(prefix, start, b"", 0, first.end)
    chunks: list[bytes] = []
    size = kept = 0
    second_report = skip_rest = all_cpus = False
    pos, stop = first.start, min(len(log), first.start + _WINDOW)
    while pos < stop:
        line = line_at(log, pos)
        pos = line.next_start
        is_first = line.start == first.start
        if HEADER_RE.search(line.text) and matching_oops(line.text) is not None:
            collected.end = line.end
            if not (is_first or second_report or REPORT_START_IGNORES.search(line.text)):
                second_report = True
        if not (is_first or second_report) and any(m in line.text for m in INFO_WITH_STACK):
            second_report = True
        line_context = printk_context(line.text)
        if not (is_first or line_context == context or (all_cpus and is_cpu_context(line_context))):
            continue
        stripped, questionable = strip_prefix(line.text, line_context)
        if questionable and not is_first:
            continue
        kept += 1
        skip = skip_rest
        if b"Disabling lock debugging due to kernel taint" in line.text:
            skip = True
        elif b"Sending NMI from CPU" in line.text:
            all_cpus = True  # an all-CPU backtrace follows: keep every CPU's lines
        elif (_PANIC in line.text or _LOCKDEP_SPLAT in line.text) and kept > enough:
            skip = skip_rest = True
        if skip and not is_first:
            continue
        chunks.append(stripped)
        size += len(stripped) + 1
        if not second_report or keep_all:
            collected.title_end = size
    collected.text = b"".join(chunk + b"\n" for chunk in chunks)
    return collected


def _prefix(log: bytes, base: int, first: Line, context: bytes) -> tuple[list[bytes], int]:
    """Up to 5 lines of the same context before the oops (50 for a task's own
    lines), and where the first of them begins."""
    wanted = 50 if is_task_context(context) else 5
    lines: list[bytes] = []
    begin = start = first.start
    floor = max(base, first.start - _WINDOW)
    while start > floor and len(lines) < wanted:
        line = line_before(log, start, floor)
        if printk_context(line.text) == context:
            stripped, questionable = strip_prefix(line.text, context)
            if stripped and not questionable:
                lines.append(stripped)
                begin = line.start
        start = line.start
    lines.reverse()
    return lines, begin


def _describe(text: bytes, oops: Oops) -> _Description:
    """Title ``text`` with the format of ``oops`` that matches earliest in it.

    Without a usable format the title is the header line itself; alternative
    titles of formats that matched later are kept, as syzkaller keeps them.
    """
    described = _Description(b"", "", [], None)
    best, title_seen = len(text), False
    for candidate in oops.formats:
        match = candidate.title.search(text)
        if match is None or match.start() > best or (match.start() == best and described.title):
            continue
        if match.start() < best:
            described.title, described.format, best = b"", None, match.start()
        title_seen = True
        if candidate.report is not None and (match := candidate.report.search(text)) is None:
            continue
        described.title, described.reason, alts = _fill(candidate, match, text)
        described.alts = list(dict.fromkeys(described.alts + alts))
        described.format = candidate
    if not described.title:
        if title_seen:
            described.reason = "matched title but not report regexp"
        start = text.find(oops.header)
        if start >= 0:
            end = text.find(b"\n", start)
            described.title = text[start : len(text) if end < 0 else end]
    if not described.reason and described.format is not None and described.format.corrupted:
        described.reason = "report format is marked as corrupted"
    return described


def _fill(
    candidate: OopsFormat, match: re.Match[bytes], text: bytes
) -> tuple[bytes, str, list[bytes]]:
    """The title, corruption reason and alternative titles that ``candidate`` gives."""
    captures = [group or b"" for group in match.groups()]
    frames: list[Frame] = []
    ok = True
    if candidate.stack is not None:
        frames, ok = candidate.stack.extract(text[match.start() :])
    args = captures + [frame.canonical for frame in frames]
    title = render(candidate.fmt, args)
    alts = [render(alt, args) for alt in candidate.alt]
    # Titles after the frames as printed (syscall prefixes kept) are alternatives too.
    for variant in raw_variants(frames):
        variant_args = captures + variant
        if (alt_title := render(candidate.fmt, variant_args)) != title:
            alts.append(alt_title)
        alts += [render(alt, variant_args) for alt in candidate.alt]
    return title, "" if ok else _NO_FRAMES, alts


def _corruption(described: _Description, report: bytes) -> str:
    """Why a well-titled report still looks garbled or truncated ("" if it does not)."""
    if has_timestamp(described.title):
        return "title matches corrupted regexp"
    if described.format is None or described.format.no_stack_trace:
        return ""
    return stack_trace_problem(report)
