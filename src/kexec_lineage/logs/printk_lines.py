"""
Printk lines
------------

The per-line view of a console log that crash extraction needs, as syzkaller's
``pkg/report`` has it (``consoleOutputRe``, ``extractContext``,
``stripLinePrefix``): which printk *context* a line comes from, so that lines
of other CPUs or tasks interleaved with a report can be dropped, and the line
text without its ``[ time][T123]`` prefix.

Lines are sliced out of the log one at a time, never the whole log; a ``\\r``
before the ``\\n`` is not part of the line, so CRLF logs parse like LF logs.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Final

__all__ = (
    "CONSOLE",
    "Line",
    "is_cpu_context",
    "is_task_context",
    "line_at",
    "line_before",
    "printk_context",
    "strip_prefix",
    "time_stamp",
)

#: The context of a line that has a timestamp but no ``[T..]``/``[C..]`` caller id.
CONSOLE: Final = b"console"

# What may stand before a line's time stamp: a note of dropped messages, a
# login prompt the kernel's line was printed over, the level.
_LEAD: Final = rb"^(?:\*\* [0-9]+ printk messages dropped \*\* )?(?:.* login: )?(?:<[0-9]+>)?"
_PREFIX: Final = re.compile(_LEAD + rb"\[ *[0-9]+\.[0-9]+\](\[ *(?:C|T)[0-9]+\])? ")
_STAMPED_LINE: Final = re.compile(_LEAD + rb"\[ *([0-9]{1,10}\.[0-9]{1,9})\]", re.M)
_TASK: Final = re.compile(rb"\[ *T[0-9]+\]")
_CPU: Final = re.compile(rb"\[ *C[0-9]+\]")
# x86 marks unreliable frames with " ? "; the check is skipped in interrupt stacks.
_QUESTIONABLE: Final = re.compile(rb"(\[<[0-9a-f]+>\])? \? ")
_UNRELIABLE_SUFFIX: Final = b" (unreliable)"  # powerpc's marker


class Line:
    """One line of a log: ``start``/``end`` are offsets, ``end`` at its ``\\n`` (or EOF)."""

    __slots__ = ("end", "start", "text")

    def __init__(self, log: bytes, start: int, end: int) -> None:
        self.start, self.end = start, end
        stop = end - 1 if end > start and log[end - 1] == 0x0D else end
        self.text = log[start:stop]

    @property
    def next_start(self) -> int:
        """Offset of the following line (may be past the end of the log)."""
        return self.end + 1


def line_at(log: bytes, start: int) -> Line:
    """The line beginning at ``start``."""
    end = log.find(b"\n", start)
    return Line(log, start, len(log) if end < 0 else end)


def line_before(log: bytes, line_start: int, floor: int) -> Line:
    """The line ending just before ``line_start``, not reaching back past ``floor``."""
    end = line_start - 1
    return Line(log, log.rfind(b"\n", floor, end) + 1 or floor, end)


def printk_context(text: bytes) -> bytes:
    """``[T123]``-style caller id, :data:`CONSOLE` for a bare timestamp, else ``b""``."""
    match = _PREFIX.match(text)
    if match is None:
        return b""
    return match[1] or CONSOLE


def is_task_context(context: bytes) -> bool:
    """Whether lines come from one task (``[T123]``): a report's earlier lines are its own."""
    return _TASK.search(context) is not None


def is_cpu_context(context: bytes) -> bool:
    """Whether lines come from a CPU in interrupt context (``[C1]``)."""
    return _CPU.search(context) is not None


def strip_prefix(text: bytes, context: bytes) -> tuple[bytes, bool]:
    """The line without its console prefix, and whether it is a questionable frame."""
    if not context:
        return text, False
    text = text[text.index(b"] ") + 2 :]
    if b"<EOI>" not in text:
        if _QUESTIONABLE.search(text):
            return text[text.index(b" ? ") + 2 :], True
        if text.endswith(_UNRELIABLE_SUFFIX):
            return text[: -len(_UNRELIABLE_SUFFIX)], True
    return text, False


def time_stamp(log: bytes, start: int, end: int) -> float | None:
    """Seconds since boot on the last line of ``log[start:end]`` that begins with a
    printk time stamp (``start`` a line start); one regex pass over the span."""
    last = deque(_STAMPED_LINE.finditer(log, start, end), maxlen=1)
    return float(last[0].group(1)) if last else None
