"""``kexec-lineage status``: how this boot came to be, and the host's chain."""

from __future__ import annotations

import argparse
from typing import Any

from kexec_lineage.cli.hoststate import add_state_argument, state_of
from kexec_lineage.cli.output import print_json
from kexec_lineage.host.record import current_boot, summary
from kexec_lineage.model.chain import Chain

__all__ = ("register", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "status",
        parents=[common],
        help="show how this boot came to be and the host's chain",
        description="Show this boot (as recorded, or reconciled now) and its chain back to "
        "the last cold boot.",
    )
    add_state_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    boot, found = current_boot(args.root, state_of(args))
    chain = Chain.of(boot.host, found.history).leading_to(boot)
    if args.json:
        print_json(
            boot.as_dict()
            | {
                "recorded": found.recorded is not None,
                "chain": [
                    {
                        "boot_id": b.boot_id,
                        "release": b.release,
                        "how": b.how,
                        "kexec_count": b.kexec_count,
                    }
                    for b in chain
                ],
                "summary": summary(boot, chain),
            }
        )
    else:
        print(summary(boot, chain))
    return 0
