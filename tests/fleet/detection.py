"""Scoring the analysis against a simulated fleet's ground truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from kexec_lineage.fleet.analysis import Analysis
from kexec_lineage.fleet.count_table import CountRow
from kexec_lineage.model.release import release_key

#: An injected bug the analysis must find: strong and frequent enough. An early bug's
#: multiplier is the per cent of boots that crash early (0.5 to 5), which within the
#: early window is always more than 3 times other boots' early crashes (at most 2.4
#: times 1/2000 an hour for a quarter of an hour: 0.03%), so its excess alone decides.
MIN_MULTIPLIER = 3.0
MIN_EXCESS = 20.0
#: A predecessor shows that it is bad only if it should have caused this many
#: extra crashed boots; below that no method can tell, and bisection is judged
#: on the first predecessor that does.
MIN_EVIDENCE = 3.0


FactSets = Mapping[str, Mapping[str, str]]


def first_bad_with_evidence(
    bug: dict[str, Any], counts: Sequence[CountRow], fact_sets: FactSets
) -> str:
    """The first predecessor of the bug's range, in version order, whose boots
    into the bug's release carry evidence of it (see :data:`MIN_EVIDENCE`): of a
    bug only on some hosts, the boots of those hosts."""
    where = bug["only_on"]

    def shows(row: CountRow) -> bool:
        return where is None or fact_sets[row.facts].get(where["fact"]) == where["value"]

    cells: dict[str, list[int]] = {}
    for row in counts:
        if row.release == bug["release"] and row.how == "kexec" and shows(row):
            cell = cells.setdefault(row.predecessor, [0, 0])
            cell[0] += row.crashed_boots
            cell[1] += row.boots
    outside = [c for p, c in cells.items() if p not in bug["predecessors"]]
    base = sum(c[0] for c in outside) / max(1, sum(c[1] for c in outside))
    for predecessor in sorted(bug["predecessors"], key=release_key):
        boots = cells.get(predecessor, [0, 0])[1]
        # An early bug crashes a share of boots; the others multiply the rate.
        extra = bug["multiplier"] / 100 if bug.get("early") else base * (bug["multiplier"] - 1)
        if boots * extra >= MIN_EVIDENCE:
            return str(predecessor)
    return str(bug["first_bad_predecessor"])


def exact(first: str, bug: dict[str, Any], counts: Sequence[CountRow], fact_sets: FactSets) -> bool:
    """Whether ``first``, said to be the first bad predecessor of ``bug``, is: the true
    one, or a bad one no later than :func:`first_bad_with_evidence`."""
    if first == bug["first_bad_predecessor"]:
        return True
    evidence = first_bad_with_evidence(bug, counts, fact_sets)
    return first in bug["predecessors"] and release_key(first) <= release_key(evidence)


@dataclass
class Score:
    detectable: int = 0
    found: int = 0
    exact_first: int = 0
    only_on_named: int = 0
    findings: int = 0
    false_findings: int = 0
    missed: list[str] = field(default_factory=list)
    inexact: list[str] = field(default_factory=list)
    false: list[str] = field(default_factory=list)

    def add(self, other: Score) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def qualifies(bug: dict[str, Any]) -> bool:
    strong = bug.get("early") or bug["multiplier"] >= MIN_MULTIPLIER
    return bool(strong) and bug["excess_crashes"] >= MIN_EXCESS


def damages_several(predecessor: str, bugs: Sequence[dict[str, Any]]) -> bool:
    """Whether injected transition bugs of two releases or more start at ``predecessor``:
    it damages several releases, a culprit by what it does."""
    return len({b["release"] for b in bugs if predecessor in b["predecessors"]}) >= 2


def _matches(release: str, predecessors: Sequence[str], bug: dict[str, Any]) -> bool:
    return release == bug["release"] and bool(set(predecessors) & set(bug["predecessors"]))


def score(
    result: Analysis,
    truth: dict[str, Any],
    counts: Sequence[CountRow],
    fact_sets: FactSets,
    label: str = "",
) -> Score:
    """How well ``result`` finds the faults of ``truth``: each qualifying bug found (a
    transition bug as a suspect, an early one as an early finding, a culprit as a
    culprit), the first bad predecessor exact, a fact bug's fact named; and every
    finding (suspect, its "only on" facts, culprit, early finding) true or false: a
    suspect is true where it matches a bug or names a culprit, a culprit where it is
    one or starts bugs of several releases."""
    out = Score()
    bugs = truth["transition_bugs"]
    culprits = {c["predecessor"] for c in truth["culprits"]}
    for bug in bugs:
        if not qualifies(bug):
            continue
        out.detectable += 1
        if bug["early"]:
            named = [(e.release, e.predecessors) for e in result.early]
        else:
            named = [(s.release, s.predecessors) for s in result.suspects]
        match = [p for r, p in named if _matches(r, p, bug)]
        if not match:
            out.missed.append(
                f"{label} {bug['release']} <- {bug['predecessors']} "
                f"x{bug['multiplier']:.1f} excess {bug['excess_crashes']:.0f}"
            )
            continue
        out.found += 1
        # The true first bad predecessor is exact; so is, where the true one left no
        # trace in the data, any bad one up to the first that its boots show to be bad.
        if exact(match[0][0], bug, counts, fact_sets):
            out.exact_first += 1
        else:
            out.inexact.append(
                f"{label} {bug['release']} <- {bug['predecessors']}: said {list(match[0])}"
            )
        if bug["only_on"] is not None:
            wanted = f"{bug['only_on']['fact']}={bug['only_on']['value']}"
            out.only_on_named += any(
                wanted == f"{o.fact}={o.value}" or wanted in o.same_as
                for s in result.suspects
                if _matches(s.release, s.predecessors, bug)
                for o in s.only_on
            )
    for culprit in truth["culprits"]:
        if qualifies(culprit):
            out.detectable += 1
            out.found += culprit["predecessor"] in {c.predecessor for c in result.culprits}
            out.exact_first += culprit["predecessor"] in {c.predecessor for c in result.culprits}
            if culprit["predecessor"] not in {c.predecessor for c in result.culprits}:
                out.missed.append(f"{label} culprit {culprit['predecessor']}")

    def judge(true: bool, what: str) -> None:
        out.findings += 1
        if not true:
            out.false_findings += 1
            out.false.append(f"{label} {what}")

    for s in result.suspects:
        bug = next((b for b in bugs if _matches(s.release, s.predecessors, b)), None)
        judge(bug is not None or bool(culprits & set(s.predecessors)), s.sentence)
        for o in s.only_on:
            said = {f"{o.fact}={o.value}", *o.same_as}
            right = (
                bug is not None
                and bug["only_on"] is not None
                and (f"{bug['only_on']['fact']}={bug['only_on']['value']}" in said)
            )
            judge(right, f"{s.release} only on {o.fact}={o.value}")
    for c in result.culprits:
        judge(c.predecessor in culprits or damages_several(c.predecessor, bugs), c.sentence)
    for e in result.early:
        judge(any(_matches(e.release, e.predecessors, b) for b in bugs), e.sentence)
    return out
