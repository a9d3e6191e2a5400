"""``kexec-lineage analyze``: which transitions, predecessor ranges and depths crash."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kexec_lineage.cli.fleetdb import add_db_argument, open_db
from kexec_lineage.cli.output import print_json, table
from kexec_lineage.fleet.count_table import EARLY_EDGES, EARLY_SECONDS
from kexec_lineage.model.wire import CLASS_FACTS, FACT_KEY

if TYPE_CHECKING:
    from kexec_lineage.fleet.analysis import Analysis
    from kexec_lineage.fleet.store import Store

__all__ = ("analyze_store", "register", "render", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "analyze",
        parents=[common],
        help="rank the transitions that raise crash rates",
        description="Aggregate the fleet database into count tables, then test every "
        "predecessor of every release against the others (stratified by host class), bisect "
        "predecessor ranges, adjust for multiple tests, and look for depth effects.",
    )
    add_db_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the analysis as JSON")
    parser.add_argument(
        "--class",
        dest="class_facts",
        type=_facts,
        default=CLASS_FACTS,
        metavar="FACT,FACT",
        help="the host facts whose values make a host class, the strata of every test "
        f"(default: {','.join(CLASS_FACTS)})",
    )
    parser.add_argument(
        "--early-minutes",
        type=_minutes,
        default=EARLY_SECONDS / 60,
        metavar="M",
        help="a crash this soon after boot is early: "
        + ", ".join(f"{edge / 60:g}" for edge in EARLY_EDGES)
        + f" (default: {EARLY_SECONDS / 60:g})",
    )
    parser.set_defaults(run=run)


def _facts(text: str) -> tuple[str, ...]:
    facts = tuple(f.strip() for f in text.split(",") if f.strip())
    if not facts or any(FACT_KEY.fullmatch(f) is None for f in facts):
        raise argparse.ArgumentTypeError(f"not a list of fact names: {text!r}")
    return facts


def _minutes(text: str) -> float:
    """One of the early windows the count tables keep (:data:`EARLY_EDGES`)."""
    kept = [edge / 60 for edge in EARLY_EDGES]
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value not in kept:
        raise argparse.ArgumentTypeError(
            f"one of {', '.join(f'{m:g}' for m in kept)} minutes, not {text!r}"
        )
    return value


def analyze_store(
    store: Store,
    class_facts: Sequence[str] = CLASS_FACTS,
    early_minutes: float = EARLY_SECONDS / 60,
) -> Analysis:
    """Count in the database, then run the statistics; timings on stderr."""
    from kexec_lineage.fleet.analysis import analyze
    from kexec_lineage.fleet.weighing_sql import weighed_tables

    start = time.perf_counter()
    tables = weighed_tables(store, early_minutes * 60)
    counted = time.perf_counter()
    result = analyze(
        tables.counts,
        tables.titles,
        tables.spread,
        fact_sets=tables.fact_sets,
        class_facts=class_facts,
        early_seconds=early_minutes * 60,
    )
    print(
        f"counted {len(tables.counts.rows)} cells in {counted - start:.2f} s, "
        f"tested in {time.perf_counter() - counted:.2f} s",
        file=sys.stderr,
    )
    return result


def render(result: Analysis, naive_rows: int = 8) -> str:
    """The analysis as a report a person reads at a glance."""
    from kexec_lineage.fleet.analysis import format_q

    out = [
        f"{result.boots:,} boots, {result.crashed_boots:,} with a crash; {result.tests} tests, "
        f"reported at q <= 0.05",
        "",
        f"CULPRITS: kernels that damage whatever they kexec into ({len(result.culprits)})",
        *([f"- {c.sentence}" for c in result.culprits] or ["none"]),
        "",
        f"SUSPECT TRANSITIONS ({len(result.suspects)})",
    ]
    if result.suspects:
        out.append(
            table(
                [
                    (
                        s.release,
                        s.first_bad_predecessor
                        + (
                            ""
                            if s.last_bad_predecessor == s.first_bad_predecessor
                            else f"..{s.last_bad_predecessor}"
                        ),
                        "inf" if s.rate_ratio == float("inf") else f"{s.rate_ratio:.1f}",
                        f"{s.crashes}/{s.boots}",
                        f"{s.other_crashes}/{s.other_boots}",
                        format_q(s.q).lstrip("="),
                        s.title or "-",
                    )
                    for s in result.suspects
                ],
                ("RELEASE", "AFTER KEXEC FROM", "x RATE", "CRASHED", "OTHERS", "q", "TOP TITLE"),
            )
        )
        out += [
            "",
            *(
                f"- {s.sentence}"
                + (f" [a case of culprit {s.explained_by}]" if s.explained_by else "")
                for s in result.suspects
            ),
        ]
    else:
        out.append("none")
    out += ["", f"EARLY CRASHES (within {result.early_minutes:g} minutes of boot)"]
    out += [f"- {e.sentence}" for e in result.early] or ["none"]
    out += ["", f"DEPTH ({len(result.depth)})"]
    out += [f"- {d.sentence}" for d in result.depth] or ["none"]
    out += ["", "NAIVE VIEW: each release against all others, predecessors ignored"]
    out.append(
        table(
            [
                (
                    n.release,
                    f"{n.crashes}/{n.boots}",
                    f"{n.rate_ratio:.2f}",
                    f"{n.q:.1g}",
                    "flagged" if n.q <= 0.05 else "",
                )
                for n in result.naive[:naive_rows]
            ],
            ("RELEASE", "CRASHED", "x RATE", "q", ""),
        )
    )
    if result.kexec_titles:
        out += ["", "TITLES MORE FREQUENT AFTER KEXEC THAN AFTER COLD BOOTS OF THE SAME RELEASES"]
        out += [
            f"- {t.title} ({t.after_kexec} vs {t.after_cold} crashed boots, q{format_q(t.q)})"
            for t in result.kexec_titles[:10]
        ]
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    result = analyze_store(open_db(args), args.class_facts, args.early_minutes)
    if args.json:
        print_json(result.as_dict())
    else:
        print(render(result))
    return 0
