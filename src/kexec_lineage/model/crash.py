"""
Crash
-----

One kernel crash report found in a log, titled the way syzkaller's
``pkg/report`` titles it, so that our titles and syzbot's can be compared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ("Crash",)


@dataclass(frozen=True, slots=True)
class Crash:
    """A crash report and its syzkaller-style description.

    ``offset`` and ``end`` are byte offsets of the report in the log text it
    was found in (syzkaller's ``StartPos``/``EndPos``). ``type`` is
    syzkaller's crash type name (``KASAN-READ``, ``HANG``, ...), empty where
    syzkaller has none (``UNKNOWN``). ``panicked``: the kernel printed
    ``Kernel panic - not syncing`` after it. ``uptime``: seconds since boot
    when the report began, from the printk time stamp at ``offset`` (else of
    the nearest stamped line of the report before it); ``None`` where its
    lines carry none. Unlike ``offset`` and ``end`` it means something outside
    the log, so it travels with the crash.
    """

    title: str
    alt_titles: tuple[str, ...] = ()
    type: str = ""
    frame: str = ""
    corrupted: bool = False
    corrupted_reason: str = ""
    suppressed: bool = False
    panicked: bool = False
    report: str = ""
    offset: int = 0
    end: int = 0
    uptime: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as ``kexec-lineage crashes --json`` prints a crash."""
        out = asdict(self)
        out["alt_titles"] = list(self.alt_titles)
        return out
