"""``kexec-lineage token``: create, list and revoke API tokens, one host or a fleet at a time."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from kexec_lineage.cli.fleetdb import add_db_argument, open_db
from kexec_lineage.cli.output import print_json, table
from kexec_lineage.errors import InputError
from kexec_lineage.host.files import read_bytes

__all__ = ("register", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "token",
        parents=[common],
        help="create, list and revoke API tokens",
        description="create: a token that writes one host's records (--host H), one for each "
        "host named in a file (--hosts-file F, one transaction; tokens as CSV on stdout or a "
        "file per host in --out-dir), or one that reads everything (--read). A single token "
        "is printed alone on the last line; only its hash is stored. list: every token's id, "
        "kind, host and age, never the token. revoke: the tokens --id N (repeatable), or all "
        "of --host H's; they are refused from their next request on.",
    )
    parser.add_argument("action", choices=("create", "list", "revoke"))
    add_db_argument(parser)
    parser.add_argument("--host", metavar="H", help="a token that writes host H's records")
    parser.add_argument("--read", action="store_true", help="a token that reads")
    parser.add_argument(
        "--hosts-file", type=Path, metavar="F", help="create: one host name per line"
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        metavar="DIR",
        help="with --hosts-file: write DIR/HOST (mode 0600) for each host instead of CSV",
    )
    parser.add_argument(
        "--id",
        dest="ids",
        action="append",
        type=int,
        default=[],
        metavar="N",
        help="revoke: the token with id N (see list); may be repeated",
    )
    parser.add_argument("--json", action="store_true", help="list: as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "create":
        return _create(args)
    if args.action == "list":
        return _list(args)
    return _revoke(args)


def _create(args: argparse.Namespace) -> int:
    chosen = [bool(args.host is not None), args.read, args.hosts_file is not None]
    if sum(chosen) != 1 or args.ids:
        raise InputError("token create takes one of --host H, --hosts-file F or --read")
    if args.hosts_file is None:
        store = open_db(args)
        token = store.create_token("read" if args.read else "host", args.host)
        print(f"created a {'read' if args.read else f'host {args.host}'} token; keep it secret:")
        print(token)
        return 0
    text = read_bytes(args.hosts_file, 64 << 20).decode("utf-8", "surrogateescape")
    hosts = [line.strip() for line in text.splitlines() if line.strip()]
    if args.out_dir is not None:
        _check_out_dir(args.out_dir, hosts)
    made = open_db(args).create_host_tokens(hosts)
    if args.out_dir is None:
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(("host", "token"))
        writer.writerows(made.items())
        return 0
    for host, token in made.items():
        fd = os.open(args.out_dir / host, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
    print(f"created {len(made)} host tokens in {args.out_dir}", file=sys.stderr)
    return 0


def _check_out_dir(directory: Path, hosts: list[str]) -> None:
    """Before any token is made: the files can all be written, and none is there yet."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        probe = directory / ".kexec-lineage-probe"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise InputError(f"cannot write tokens to {directory}: {exc.strerror}") from None
    there = [h for h in hosts if (directory / h).exists()]
    if there:
        raise InputError(f"{directory / there[0]} exists ({len(there)} such): no token created")


def _list(args: argparse.Namespace) -> int:
    rows = open_db(args).list_tokens()
    if args.json:
        print_json({"tokens": [dataclasses.asdict(r) for r in rows]})
        return 0
    print(
        table(
            ((r.id, r.kind, r.host or "-", _utc(r.created_at)) for r in rows),
            ("id", "kind", "host", "created (UTC)"),
        )
    )
    return 0


def _utc(seconds: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _revoke(args: argparse.Namespace) -> int:
    if not args.ids and args.host is None:
        raise InputError("token revoke takes --id N (see 'token list') or --host H")
    revoked = open_db(args).revoke_tokens(args.ids, args.host)
    if not revoked:
        raise InputError("no such token: nothing revoked (see 'token list')")
    print(f"revoked {revoked} token{'s' if revoked != 1 else ''}")
    return 0
