"""``kexec-lineage record``: record this boot, once (run early at every boot)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kexec_lineage.cli.hoststate import add_state_argument, state_of
from kexec_lineage.cli.output import print_json
from kexec_lineage.host.record import record

__all__ = ("register", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "record",
        parents=[common],
        help="record how this boot came to be (once per boot)",
        description="Probe this boot's evidence, reconcile it, harvest the previous boot's "
        "crashes from pstore, spool the records and append the boot to the ledger. "
        "Running it again in the same boot changes nothing.",
    )
    add_state_argument(parser)
    parser.add_argument("--json", action="store_true", help="print what was recorded as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = record(args.root, state_of(args))
    for problem in result.problems:
        print(f"kexec-lineage: warning: {problem}", file=sys.stderr)
    if args.json:
        print_json(
            {
                "boot": result.boot.as_dict(),
                "crashes": [c.as_dict() for c in result.crashes],
                "recorded": result.recorded,
                "problems": list(result.problems),
            }
        )
    else:
        boot = result.boot
        verb = "recorded" if result.recorded else "already recorded"
        print(f"{verb} boot {boot.boot_id}: {boot.how} {boot.release} (count {boot.kexec_count})")
        for crash in result.crashes:
            print(f"previous boot {crash.boot_id} crashed: {crash.crash.title}")
    return 0
