"""``kexec-lineage crashes``: every crash in kernel logs, titled as syzkaller titles it."""

from __future__ import annotations

import argparse
from typing import Any

from kexec_lineage.cli.logfiles import add_log_arguments, scan_files
from kexec_lineage.cli.output import print_json, table

__all__ = ("register", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "crashes",
        parents=[common],
        help="list the crashes in kernel logs",
        description="Find every kernel crash in the logs and title it as syzkaller does.",
    )
    add_log_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    rows = []
    for scanned in scan_files(args):
        for boot, crash in scanned.crashes:
            rows.append(
                {
                    "file": scanned.log.origin,
                    "host": scanned.log.host,
                    "source": scanned.log.source,
                    "boot": boot,
                    "release": scanned.boots[boot].release,
                    "boot_id": scanned.boots[boot].boot_id,
                }
                | crash.as_dict()
            )
    if args.json:
        print_json(rows)
    elif rows:
        print(
            table(
                [(r["title"], r["type"] or "-", r["file"], r["boot"], r["offset"]) for r in rows],
                ("TITLE", "TYPE", "FILE", "BOOT", "OFFSET"),
            )
        )
    return 0
