"""
Scanning a log
--------------

A console log's boots with the crashes of each, the unit every consumer
(the ``boots`` and ``crashes`` commands, batch ingest) works with.
"""

from __future__ import annotations

from dataclasses import dataclass

from kexec_lineage.logs.boots import LogBoot, boot_index, split_boots
from kexec_lineage.logs.console import ConsoleLog
from kexec_lineage.logs.crash_report import parse_crashes
from kexec_lineage.model.crash import Crash

__all__ = ("ScannedLog", "scan")


@dataclass(frozen=True, slots=True)
class ScannedLog:
    """A log, its boots, and each crash with the index of the boot it happened in."""

    log: ConsoleLog
    boots: tuple[LogBoot, ...]
    crashes: tuple[tuple[int, Crash], ...]

    def crash_count(self, boot: int) -> int:
        """How many crashes boot ``boot`` had."""
        return sum(1 for index, _ in self.crashes if index == boot)


def scan(log: ConsoleLog) -> ScannedLog:
    """Split ``log`` into boots and find its crashes."""
    boots = split_boots(log)
    starts = [b.start for b in boots]
    crashes = tuple((boot_index(starts, c.offset), c) for c in parse_crashes(log.text))
    return ScannedLog(log, tuple(boots), crashes)
