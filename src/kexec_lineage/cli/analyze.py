"""``kexec-lineage analyze``: which transitions, predecessor ranges and depths crash."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from kexec_lineage.cli.fleetdb import add_db_argument, open_db
from kexec_lineage.cli.output import print_json, table

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
    parser.set_defaults(run=run)


def analyze_store(store: Store) -> Analysis:
    """Count in the database, then run the statistics; timings on stderr."""
    from kexec_lineage.fleet.analysis import analyze
    from kexec_lineage.fleet.count_queries import count_rows, host_spread, title_rows

    start = time.perf_counter()
    counts, titles, spread = count_rows(store), title_rows(store), host_spread(store)
    counted = time.perf_counter()
    result = analyze(counts, titles, spread)
    print(
        f"counted {len(counts)} cells in {counted - start:.2f} s, "
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
        out += ["", *(f"- {s.sentence}" for s in result.suspects)]
    else:
        out.append("none")
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
    if result.kexec_only_titles:
        out += ["", "TITLES SEEN AFTER KEXEC, NEVER AFTER A COLD BOOT"]
        out += [f"- {t['title']} ({t['after_kexec']} boots)" for t in result.kexec_only_titles[:10]]
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    result = analyze_store(open_db(args))
    if args.json:
        print_json(result.as_dict())
    else:
        print(render(result))
    return 0
