"""The ``--db`` option of the fleet commands, and opening the store it names."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from kexec_lineage.cli.extras import missing_extra

if TYPE_CHECKING:
    from kexec_lineage.fleet.store import Store

__all__ = ("add_db_argument", "open_db")


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        required=True,
        metavar="URL",
        help="database: a SQLite path, sqlite:///path, or postgresql+psycopg://...",
    )


def open_db(args: argparse.Namespace) -> Store:
    """:raises InputError: the ``server`` extra is not installed."""
    try:
        from kexec_lineage.fleet.store import open_store
    except ImportError as exc:
        raise missing_extra(exc, "the fleet commands") from None
    return open_store(args.db)
