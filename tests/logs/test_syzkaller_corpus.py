"""Acceptance: our crash titles against syzkaller's on its own test corpus.

Each file of ``shared/corpus/syzkaller-linux-report/`` is a real console log
with the title (and type, alternative titles, corruption flag...) that
syzkaller's ``pkg/report`` gives it. The agreement figures are printed (see
them with ``pytest -s`` or ``-rA``) and repeated in every assertion message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kexec_lineage.logs.crash_report import contains_crash, parse_crashes

CORPUS = Path(__file__).resolve().parents[2].parent / "shared/corpus/syzkaller-linux-report"


@dataclass
class Case:
    """One corpus file: its expectations and the raw log."""

    name: str
    log: bytes
    headers: dict[str, list[str]] = field(default_factory=dict)
    report: bytes | None = None

    def first(self, key: str, default: str = "") -> str:
        return self.headers.get(key, [default])[0]

    def flag(self, key: str) -> bool:
        return self.first(key, "N") == "Y"


def load_case(path: Path) -> Case:
    """Parse a file the way syzkaller's report_test.go does (header, blank line, log).

    Lines lose a trailing ``\\r``; ``#`` header lines are comments; an optional
    ``REPORT:`` section after a blank line is the expected report text.
    """
    lines = path.read_bytes().split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    case = Case(path.name, b"")
    body: list[bytes] = []
    report: list[bytes] | None = None
    in_headers, previous_empty = True, False
    for raw in lines:
        line = raw.removesuffix(b"\r")
        if in_headers:
            if not line:
                in_headers = False
            elif not line.startswith(b"#"):
                key, _, value = line.decode().partition(":")
                case.headers.setdefault(key, []).append(value.strip())
        elif report is not None:
            report.append(line + b"\n")
        elif previous_empty and line == b"REPORT:":
            report = []
        else:
            body.append(line + b"\n")
        previous_empty = not line
    case.log = b"".join(body)
    case.report = None if report is None else b"".join(report)
    return case


def corpus_cases() -> list[Case]:
    """Every numbered file of the corpus, in numeric order."""
    paths = [p for p in CORPUS.iterdir() if p.name.isdigit()]
    return [load_case(p) for p in sorted(paths, key=lambda p: int(p.name))]


@dataclass
class Tally:
    """Agreement on one property: matched files out of compared ones, and the misses."""

    name: str
    matched: int = 0
    compared: int = 0
    misses: list[str] = field(default_factory=list)

    def check(self, case: str, expected: object, got: object) -> None:
        self.compared += 1
        if expected == got:
            self.matched += 1
        else:
            self.misses.append(f"  {self.name:9} {case:>5}: expected {expected!r}, got {got!r}")

    @property
    def share(self) -> float:
        return self.matched / self.compared if self.compared else 1.0

    def line(self) -> str:
        return f"{self.name:10} {self.matched:4}/{self.compared:<4} {100 * self.share:6.2f}%"


def test_titles_agree_with_syzkaller() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"syzkaller corpus not found at {CORPUS} (a fresh clone has no ../shared)")
    names = (
        "crash",
        "title",
        "type",
        "corrupted",
        "alt",
        "frame",
        "suppressed",
        "panicked",
        "span",
        "report",
    )
    tallies = {name: Tally(name) for name in names}
    for case in corpus_cases():
        expected_title = case.first("TITLE")
        crashes = parse_crashes(case.log)
        found = contains_crash(case.log)
        assert found == bool(crashes), f"{case.name}: contains_crash disagrees with parse_crashes"
        tallies["crash"].check(case.name, bool(expected_title), found)
        if not expected_title or not crashes:
            continue
        crash = crashes[0]
        tallies["title"].check(case.name, expected_title, crash.title)
        tallies["type"].check(case.name, case.first("TYPE"), crash.type)
        tallies["corrupted"].check(case.name, case.flag("CORRUPTED"), crash.corrupted)
        tallies["alt"].check(case.name, sorted(case.headers.get("ALT", [])), list(crash.alt_titles))
        if "FRAME" in case.headers:
            tallies["frame"].check(case.name, case.first("FRAME"), crash.frame)
        tallies["suppressed"].check(case.name, case.flag("SUPPRESSED"), crash.suppressed)
        tallies["panicked"].check(case.name, case.flag("PANICKED"), crash.panicked)
        if case.report is not None:
            tallies["report"].check(case.name, case.report.decode(errors="replace"), crash.report)
        # START/END: the oops line and the last oops line, as offsets into the log.
        for key, got in (("START", crash.offset), ("END", crash.end)):
            if key in case.headers:
                line = case.first(key).encode()
                at = case.log.index(line) + (len(line) if key == "END" else 0)
                tallies["span"].check(f"{case.name} {key}", at, got)
    summary = "\n".join(
        [f"syzkaller corpus, {tallies['crash'].compared} logs:"]
        + [t.line() for t in tallies.values()]
        + ["misses:"]
        + [miss for t in tallies.values() for miss in t.misses]
    )
    print(summary)
    assert tallies["crash"].share >= 0.99, summary
    assert tallies["title"].share >= 0.95, summary
    assert tallies["type"].share >= 0.95, summary
