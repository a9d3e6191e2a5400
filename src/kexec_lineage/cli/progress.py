"""Progress of long commands on stderr: one rewritten line on a terminal,
a line every few seconds otherwise (so CI logs show it too)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ("Progress",)


class Progress:
    def __init__(self, total: int, what: str, out: TextIO | None = None) -> None:
        self.total = total
        self.what = what
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self.last = 0.0
        self.start = time.monotonic()

    def update(self, done: int, note: str = "") -> None:
        now = time.monotonic()
        if done < self.total and now - self.last < (0.1 if self.tty else 5.0):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        line = f"{self.what}: {done}/{self.total} ({rate:.1f}/s) {note}".rstrip()
        self.out.write(f"\r{line}\x1b[K" if self.tty else line + "\n")
        if self.tty and done >= self.total:
            self.out.write("\n")
        self.out.flush()
