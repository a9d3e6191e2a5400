"""
Entry point
-----------

Parses the command line, runs one command, and turns every
:class:`~kexec_lineage.errors.LineageError` into one ``error:`` line on stderr
and exit status 2. Commands import their heavy dependencies themselves, so
``--help`` and the host commands start with the standard library only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from kexec_lineage import __version__
from kexec_lineage.cli import (
    analyze,
    boots,
    crashes,
    decode,
    demo,
    export,
    ingest,
    kexec,
    kho_chain,
    record,
    serve,
    ship,
    simulate,
    status,
    token,
)
from kexec_lineage.errors import LineageError

__all__ = ("build_parser", "main")

_PROG = "kexec-lineage"
_COMMANDS = (
    record,
    status,
    kexec,
    ship,
    decode,
    boots,
    crashes,
    ingest,
    serve,
    token,
    analyze,
    export,
    simulate,
    kho_chain,
    demo,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like every other error of ours, instead of usage + error.
        self.exit(2, f"{self.prog}: error: {message} (try --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser, every subcommand registered."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--root",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="read the live system under DIR instead of / (default: /)",
    )
    parser = _Parser(
        prog=_PROG,
        description="Which kernel kexec'd into which: KHO kexec-metadata, host lineage, "
        "and crash correlation for fleets.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for module in _COMMANDS:
        module.register(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv``; return the exit status."""
    args = build_parser().parse_args(argv)
    # --root may come before or after the command; its default is set here
    # because argparse shares a parent's actions between parsers.
    args.root = getattr(args, "root", Path("/"))
    try:
        return int(args.run(args))
    except LineageError as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `kexec-lineage ... | head`: the reader left; not an error of ours.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130
