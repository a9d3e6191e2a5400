"""The ``--state-dir`` option shared by the host commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from kexec_lineage.host.ledger import DEFAULT_STATE_DIR
from kexec_lineage.host.record import State

__all__ = ("add_state_argument", "state_of")


def add_state_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="ledger and spool directory (default: ROOT/var/lib/kexec-lineage)",
    )


def state_of(args: argparse.Namespace) -> State:
    return State(args.state_dir or args.root / DEFAULT_STATE_DIR)
