"""``kexec-lineage ship``: send this host's spooled records to the collector."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kexec_lineage.cli.hoststate import add_state_argument, state_of
from kexec_lineage.errors import InputError
from kexec_lineage.host.files import read_bytes
from kexec_lineage.host.record import report_uptime
from kexec_lineage.model.wire import SHIP_BATCH, TOKEN_FORMAT

__all__ = ("read_token", "register", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "ship",
        parents=[common],
        help="send spooled records to the collector",
        description="Spool this boot's uptime so far (once `record` has recorded the boot), "
        "then send the spool in batches; a record is deleted only once the collector "
        "acknowledged it. Retries with exponential backoff and jitter for up to "
        "--max-time seconds; what is left stays for the next run.",
    )
    parser.add_argument("--to", required=True, metavar="URL", help="collector base URL")
    parser.add_argument("--token-file", required=True, type=Path, metavar="F")
    parser.add_argument(
        "--ca-file", type=Path, metavar="F", help="CA certificates to trust (default: the system's)"
    )
    add_state_argument(parser)
    parser.add_argument("--batch", type=int, default=SHIP_BATCH, help="records per request")
    parser.add_argument("--max-time", type=float, default=600.0, help="give up after (s)")
    parser.add_argument("--backoff-cap", type=float, default=60.0, help="longest wait (s)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # urllib's HTTP stack is a quarter of the CLI's import time, which `record` pays
    # at every boot: only ship loads it.
    from kexec_lineage.host.ship import Backoff, ship

    token = read_token(args.token_file)
    state = state_of(args)
    try:
        report_uptime(args.root, state)
    except InputError as exc:
        # The spool still goes out; only this boot's uptime is missing.
        print(f"kexec-lineage: warning: no uptime report: {exc}", file=sys.stderr)
    result = ship(
        state.spool,
        args.to,
        token,
        batch_size=args.batch,
        max_seconds=args.max_time,
        backoff=Backoff(cap=args.backoff_cap),
        ca_file=args.ca_file,
    )
    print(
        f"sent {result.sent}, rejected {result.rejected}, left {result.left} "
        f"({result.attempts} requests)"
    )
    return 0 if result.left == 0 else 1


def read_token(path: Path) -> str:
    """The token in ``path``: its last non-empty line (the file may hold the whole
    output of ``token create``). Errors never show the file's contents.

    :raises InputError: unreadable, or that line is not a token.
    """
    lines = read_bytes(path, 64 << 10).decode("utf-8", "replace").splitlines()
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    if not TOKEN_FORMAT.fullmatch(last):
        raise InputError(
            f"{path}: its last non-empty line is not a kexec-lineage token "
            "(kl_ and 43 letters, digits, - or _, as 'token create' prints it)"
        )
    return last
