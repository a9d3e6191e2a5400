"""``kexec-lineage kexec load``: kexec-tools' ``kexec -l`` that keeps the chain."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from kexec_lineage.cli.hoststate import add_state_argument, state_of
from kexec_lineage.errors import InputError
from kexec_lineage.host.identity import read_text
from kexec_lineage.host.kexec_load import build_load, find_kexec, run_load
from kexec_lineage.host.kho_debugfs import kho_active
from kexec_lineage.host.record import current_boot

__all__ = ("register", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "kexec",
        parents=[common],
        help="load the next kernel with kexec-tools, carrying the chain",
        description="'kexec load [kexec-tools arguments...]' runs 'kexec -l' with "
        "kexec_lineage.prev/count/boot added to --append/--command-line (or to the current "
        "command line with --reuse-cmdline), stale ones replaced. Where the running kernel "
        "has KHO on, it loads with -s (kexec_file_load, the only call that carries KHO "
        "state) unless you chose -s, -c or -a yourself. Run 'kexec -e' (or "
        "'systemctl kexec') yourself afterwards.",
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
    parser.set_defaults(run=run, print_help=parser.print_help)


def _own_options(args: argparse.Namespace) -> list[str]:
    """kexec-tools' arguments, with ours taken out of them.

    argparse puts everything after ``load`` in the remainder, our own options
    included; they are picked out here so that they may come anywhere.
    """
    rest: list[str] = []
    remainder = iter(args.kexec_args)
    for arg in remainder:
        name, eq, value = arg.partition("=")
        if arg == "--dry-run":
            args.dry_run = True
        elif name == "--state-dir":
            given = value if eq else next(remainder, None)
            if not given:
                raise InputError("--state-dir needs a directory")
            args.state_dir = Path(given)
        else:
            rest.append(arg)
    return rest


def run(args: argparse.Namespace) -> int:
    if args.kexec_args[:1] in (["-h"], ["--help"]):
        args.print_help()
        return 0
    kexec_args = _own_options(args)
    state = state_of(args)
    dry_run = args.dry_run
    boot, found = current_boot(args.root, state)
    cmdline = read_text(args.root, "proc/cmdline")
    load = build_load(
        kexec_args,
        boot,
        cmdline,
        "kexec" if dry_run else find_kexec(),
        kho_active(args.root, cmdline),
    )
    if load.warning:
        print(f"kexec-lineage: warning: {load.warning}", file=sys.stderr)
    if load.chose:
        print(f"kexec-lineage: {load.chose}", file=sys.stderr)
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
            "chose": load.chose,
            "cmdline": load.cmdline,
            "status": status,
            "recorded_boot": found.recorded is not None,
        }
    )
    return status
