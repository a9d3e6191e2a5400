"""``kexec-lineage serve``: the collector (HTTP API) over a fleet database."""

from __future__ import annotations

import argparse
from typing import Any

from kexec_lineage.cli.fleetdb import add_db_argument, open_db

__all__ = ("register", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "serve",
        parents=[common],
        help="run the collector",
        description="Serve the collector API (and the dashboard) over a fleet database.",
    )
    add_db_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    parser.add_argument(
        "--local",
        action="store_true",
        help="reads need no token; binds to loopback whatever --host says",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from kexec_lineage.server.app import create_app

    store = open_db(args)
    app = create_app(store, local=args.local)
    host = "127.0.0.1" if args.local else args.host
    uvicorn.run(app, host=host, port=args.port, log_level="warning")
    return 0
