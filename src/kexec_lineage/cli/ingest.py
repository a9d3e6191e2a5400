"""``kexec-lineage ingest``: console-log archives into a fleet database."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kexec_lineage.cli.fleetdb import add_db_argument, open_db
from kexec_lineage.cli.progress import Progress
from kexec_lineage.host.files import expand_paths
from kexec_lineage.logs.sources import FORMATS

__all__ = ("register", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "ingest",
        parents=[common],
        help="ingest console-log archives into a fleet database",
        description="Read kernel logs (any format 'crashes' reads), find their boots, "
        "lineage and crashes, and store them. Idempotent: ingesting a file twice stores "
        "it once.",
    )
    add_db_argument(parser)
    parser.add_argument("files", nargs="+", type=Path, metavar="LOG")
    parser.add_argument("--format", choices=FORMATS, help="read every LOG as this format")
    parser.add_argument(
        "--host", help="host name for logs that do not name one (default: the file's stem)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kexec_lineage.fleet.ingest import Ingested, ingest_files

    store = open_db(args)
    paths = expand_paths(args.files)
    progress = Progress(len(paths), "ingest files")

    def show(done: Ingested) -> None:
        progress.update(done.files, f"{done.boots} new boots, {done.crashes} new crashes")

    done = ingest_files(store, paths, args.format, args.host, show)
    print(f"ingested {len(paths)} files: {done.boots} new boots, {done.crashes} new crashes")
    return 0
