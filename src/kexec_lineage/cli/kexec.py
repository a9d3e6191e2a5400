"""``kexec-lineage kexec load``: kexec-tools' ``kexec -l`` that keeps the chain."""

from __future__ import annotations

import argparse
import time
from typing import Any

from kexec_lineage.cli.hoststate import add_state_argument, state_of
from kexec_lineage.host.identity import read_text
from kexec_lineage.host.kexec_load import build_load, find_kexec, run_load
from kexec_lineage.host.record import current_boot

__all__ = ("register", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "kexec",
        parents=[common],
        help="load the next kernel with kexec-tools, carrying the chain",
        description="'kexec load [kexec-tools arguments...]' runs 'kexec -l' with "
        "kexec_lineage.prev/count/boot added to --append/--command-line (or to the current "
        "command line with --reuse-cmdline), stale ones replaced. Works with -s and the "
        "default loader. Run 'kexec -e' yourself afterwards.",
    )
    parser.add_argument("action", choices=("load",))
    add_state_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the kexec command only")
    parser.add_argument(
        "kexec_args",
        nargs=argparse.REMAINDER,
        metavar="KEXEC-ARGS",
        help="kexec-tools arguments (kernel image, --initrd=..., --append=..., -s, ...)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    state = state_of(args)
    kexec_args = list(args.kexec_args)
    # argparse leaves our own options in the remainder when they follow kexec's.
    dry_run = args.dry_run or "--dry-run" in kexec_args
    kexec_args = [a for a in kexec_args if a != "--dry-run"]
    boot, found = current_boot(args.root, state)
    load = build_load(
        kexec_args,
        boot,
        read_text(args.root, "proc/cmdline"),
        "kexec" if dry_run else find_kexec(),
    )
    if dry_run:
        print(load.shell())
        return 0
    status = run_load(load)
    state.ledger.append(
        {
            "type": "load",
            "time": time.time(),
            "boot_id": boot.boot_id,
            "image": load.image,
            "argv": list(load.argv),
            "file_load": load.file_load,
            "cmdline": load.cmdline,
            "status": status,
            "recorded_boot": found.recorded is not None,
        }
    )
    return status
