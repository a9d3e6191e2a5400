"""``kexec-lineage token create``: API tokens for hosts and readers."""

from __future__ import annotations

import argparse
from typing import Any

from kexec_lineage.cli.fleetdb import add_db_argument, open_db

__all__ = ("register", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "token",
        parents=[common],
        help="create API tokens",
        description="Create a token that writes one host's records (--host H) or reads "
        "everything (--read). The token is printed alone on the last line; only its "
        "hash is stored.",
    )
    parser.add_argument("action", choices=("create",))
    add_db_argument(parser)
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--host", metavar="H", help="a token that writes host H's records")
    kind.add_argument("--read", action="store_true", help="a token that reads")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    store = open_db(args)
    token = store.create_token("read" if args.read else "host", args.host)
    print(f"created a {'read' if args.read else f'host {args.host}'} token; keep it secret:")
    print(token)
    return 0
