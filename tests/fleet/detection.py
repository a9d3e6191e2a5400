"""Scoring the analysis against a simulated fleet's ground truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kexec_lineage.fleet.analysis import Q_LEVEL, Analysis
from kexec_lineage.fleet.count_table import CountRow
from kexec_lineage.model.release import release_key

#: An injected transition bug the analysis must find: strong and frequent enough.
MIN_MULTIPLIER = 3.0
MIN_EXCESS = 20.0
#: A predecessor shows that it is bad only if it should have caused this many
#: extra crashed boots; below that no method can tell, and bisection is judged
#: on the first predecessor that does.
MIN_EVIDENCE = 3.0


def first_bad_with_evidence(bug: dict[str, Any], counts: Sequence[CountRow]) -> str:
    """The first predecessor of the bug's range, in version order, whose boots
    into the bug's release carry evidence of it (see :data:`MIN_EVIDENCE`)."""
    cells: dict[str, list[int]] = {}
    for row in counts:
        if row.release == bug["release"] and row.how == "kexec":
            cell = cells.setdefault(row.predecessor, [0, 0])
            cell[0] += row.crashed_boots
            cell[1] += row.boots
    outside = [c for p, c in cells.items() if p not in bug["predecessors"]]
    base = sum(c[0] for c in outside) / max(1, sum(c[1] for c in outside))
    for predecessor in sorted(bug["predecessors"], key=release_key):
        boots = cells.get(predecessor, [0, 0])[1]
        if boots * base * (bug["multiplier"] - 1) >= MIN_EVIDENCE:
            return str(predecessor)
    return str(bug["first_bad_predecessor"])


@dataclass
class Score:
    detectable: int = 0
    found: int = 0
    exact_first: int = 0
    suspects: int = 0
    false_suspects: int = 0
    naive_found: int = 0
    missed: list[str] | None = None
    false: list[str] | None = None

    def add(self, other: Score) -> None:
        for name in (
            "detectable",
            "found",
            "exact_first",
            "suspects",
            "false_suspects",
            "naive_found",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.missed = (self.missed or []) + (other.missed or [])
        self.false = (self.false or []) + (other.false or [])


def score(
    result: Analysis, truth: dict[str, Any], counts: Sequence[CountRow], label: str = ""
) -> Score:
    bugs = truth["transition_bugs"]
    out = Score(missed=[], false=[])
    flagged = {n.release for n in result.naive if n.q <= Q_LEVEL and n.rate_ratio > 1}
    for bug in bugs:
        if bug["multiplier"] < MIN_MULTIPLIER or bug["excess_crashes"] < MIN_EXCESS:
            continue
        out.detectable += 1
        match = [
            s
            for s in result.suspects
            if s.release == bug["release"] and set(s.predecessors) & set(bug["predecessors"])
        ]
        if match:
            out.found += 1
            # The true first bad predecessor is exact; so is the first that its
            # boots show to be bad, where the true one left no trace in the data.
            out.exact_first += match[0].first_bad_predecessor in (
                bug["first_bad_predecessor"],
                first_bad_with_evidence(bug, counts),
            )
        else:
            assert out.missed is not None
            out.missed.append(
                f"{label} {bug['release']} <- {bug['predecessors']} "
                f"x{bug['multiplier']:.1f} excess {bug['excess_crashes']:.0f}"
            )
        out.naive_found += bug["release"] in flagged
    for suspect in result.suspects:
        out.suspects += 1
        if not any(
            suspect.release == b["release"] and set(suspect.predecessors) & set(b["predecessors"])
            for b in bugs
        ):
            out.false_suspects += 1
            assert out.false is not None
            out.false.append(f"{label} {suspect.sentence}")
    return out
