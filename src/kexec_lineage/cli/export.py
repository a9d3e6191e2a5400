"""``kexec-lineage export``: the fleet database as Parquet, for the Spark job."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kexec_lineage.cli.extras import missing_extra
from kexec_lineage.cli.fleetdb import add_db_argument, open_db

__all__ = ("register", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "export",
        parents=[common],
        help="export the fleet database to Parquet",
        description="Write the hosts, boots and crashes of a fleet database to DIR as "
        "hosts.parquet, boots.parquet and crashes.parquet, for the Spark job of "
        "kexec_lineage.fleet.spark. Free-text columns no count reads are left out "
        "(boot evidence and disagreements, crash reports). Files already in DIR are "
        "replaced only once the whole export is written.",
    )
    add_db_argument(parser)
    parser.add_argument(
        "--parquet", required=True, type=Path, metavar="DIR", help="directory to write to"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from kexec_lineage.fleet.spark import export_parquet
    except ImportError as exc:
        raise missing_extra(exc, "export") from None
    store = open_db(args)
    try:
        written = export_parquet(store, args.parquet)
    finally:
        store.dispose()
    print(
        f"exported {written['hosts']} hosts, {written['fact_sets']} fact sets, "
        f"{written['boots']} boots, {written['crashes']} crashes to {args.parquet}"
    )
    return 0
