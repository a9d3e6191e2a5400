"""``kexec-lineage serve``: the collector (HTTP API) over a fleet database."""

from __future__ import annotations

import argparse
import gc
import math
from pathlib import Path
from typing import Any

from kexec_lineage.cli.fleetdb import add_db_argument, open_db
from kexec_lineage.errors import InputError
from kexec_lineage.host.files import read_bytes

__all__ = ("register", "run")


def _positive_seconds(text: str) -> float:
    """Seconds, more than 0: the analysis thread rests this long between computations
    (at 0 it would compute without end)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return seconds


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "serve",
        parents=[common],
        help="run the collector",
        description="Serve the collector API (and the dashboard) over a fleet database: "
        "HTTPS with --tls-cert/--tls-key; plain HTTP only on loopback (behind a TLS proxy) "
        "unless --plain-http says otherwise.",
    )
    add_db_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    parser.add_argument(
        "--local",
        action="store_true",
        help="reads need no token; binds to loopback whatever --host says",
    )
    parser.add_argument("--tls-cert", type=Path, metavar="F", help="TLS certificate chain (PEM)")
    parser.add_argument("--tls-key", type=Path, metavar="F", help="its private key (PEM)")
    parser.add_argument(
        "--plain-http",
        action="store_true",
        help="serve plain HTTP on an address other than loopback (behind a TLS-terminating "
        "proxy on a network you trust): tokens cross that network in clear",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds a client has to send a request body (default: 30)",
    )
    parser.add_argument(
        "--max-boots-per-host-day",
        type=int,
        default=1000,
        metavar="N",
        help="boots one host may send a day (default: 1000)",
    )
    parser.add_argument(
        "--analysis-every",
        type=_positive_seconds,
        default=60.0,
        metavar="S",
        help="recompute the analysis in the background every S seconds (default: 60)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from kexec_lineage.server.app import create_app
    from kexec_lineage.server.claims import Limits

    host = "127.0.0.1" if args.local else args.host
    tls = _tls_files(args)
    if tls is None and not args.plain_http and not _loopback(host):
        raise InputError(
            f"serving {host} in plain HTTP would send tokens in clear: give --tls-cert and "
            "--tls-key, or bind to loopback behind a TLS proxy (or say --plain-http)"
        )
    store = open_db(args)
    limits = Limits(max_boots_per_day=args.max_boots_per_host_day)
    app = create_app(
        store,
        local=args.local,
        body_seconds=args.body_timeout,
        limits=limits,
        analysis_every=args.analysis_every,
    )
    # What is alive now (modules, the app) lives as long as the process: out of the
    # garbage collector's sight, the objects of each ingest batch no longer set off
    # full collections that walk all of it.
    gc.freeze()
    uvicorn.run(
        app,
        host=host,
        port=args.port,
        log_level="warning",
        ssl_certfile=tls and str(tls[0]),
        ssl_keyfile=tls and str(tls[1]),
    )
    return 0


def _tls_files(args: argparse.Namespace) -> tuple[Path, Path] | None:
    """The certificate and key, each readable, or ``None`` for plain HTTP."""
    if (args.tls_cert is None) != (args.tls_key is None):
        raise InputError("TLS needs both --tls-cert and --tls-key")
    if args.tls_cert is None:
        return None
    import ssl  # not at the top: every command imports this module, and `record` must
    # run on a Python without OpenSSL too

    for path in (args.tls_cert, args.tls_key):
        read_bytes(path, 1 << 20)
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            args.tls_cert, args.tls_key
        )
    except (ssl.SSLError, ValueError) as exc:
        raise InputError(
            f"{args.tls_cert}, {args.tls_key}: not a certificate and its key: {exc}"
        ) from None
    return args.tls_cert, args.tls_key


def _loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
