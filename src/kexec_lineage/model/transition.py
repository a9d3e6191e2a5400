"""
Transition
----------

The unit the fleet statistics rank: boots of one release after one
*predecessor*, the release the boot was kexec'd from, :data:`COLD` for a cold
boot, :data:`UNKNOWN` for a kexec whose previous release nobody recorded.
The SQL and Spark count engines spell :func:`predecessor_of` in their own
languages; this is the rule they follow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from kexec_lineage.model.boot import Boot
from kexec_lineage.model.release import release_key

__all__ = ("COLD", "UNKNOWN", "Transition", "predecessor_key", "predecessor_of")

COLD = "cold"
UNKNOWN = "unknown"


def predecessor_of(boot: Boot) -> str:
    """:data:`COLD`, the release ``boot`` was kexec'd from, or :data:`UNKNOWN`."""
    if boot.how == "cold":
        return COLD
    return boot.previous_release or UNKNOWN


def predecessor_key(predecessor: str) -> tuple[int, tuple[object, ...]]:
    """Sort key: cold first, then releases in version order, unknown last."""
    rank = {COLD: 0, UNKNOWN: 2}.get(predecessor, 1)
    return rank, release_key(predecessor)


@dataclass(frozen=True, slots=True)
class Transition:
    """Boots of ``release`` after ``predecessor`` and how they fared: ``boots``,
    how many had a crash (``crashed_boots``), the crashes in them, and their
    uptime in hours (0 where none is known)."""

    release: str
    predecessor: str
    boots: int
    crashed_boots: int = 0
    crashes: int = 0
    boot_hours: float = 0.0

    @property
    def previous_release(self) -> str | None:
        """The predecessor where it is a release."""
        return None if self.predecessor in (COLD, UNKNOWN) else self.predecessor

    @property
    def rate(self) -> float:
        """The share of its boots that crashed."""
        return self.crashed_boots / self.boots if self.boots else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as ``GET /v1/transitions`` gives it."""
        return {"previous_release": self.previous_release, **asdict(self), "rate": self.rate}
