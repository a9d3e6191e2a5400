"""Reading log files for the ``boots`` and ``crashes`` commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from kexec_lineage.host.files import MAX_LOG_SIZE, expand_paths, read_bytes
from kexec_lineage.logs.sources import FORMATS, read_logs

if TYPE_CHECKING:
    from kexec_lineage.logs.scan import ScannedLog

__all__ = ("add_log_arguments", "scan_files")


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    """FILE..., --format and --json, shared by the log commands."""
    parser.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="console capture, dmesg, syslog, journal (json/export), /dev/kmsg or netconsole "
        "dump, pstore records, vmcore-dmesg.txt; a directory stands for its files",
    )
    parser.add_argument(
        "--format", choices=FORMATS, help="read every FILE as this format (default: detect)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON array")


def scan_files(args: argparse.Namespace) -> list[ScannedLog]:
    """Every log in the named files, scanned, in file order."""
    # The crash tables compile on import: only the log commands pay for it.
    from kexec_lineage.logs.scan import scan

    paths = expand_paths(args.files)
    files = [(str(path), read_bytes(path, MAX_LOG_SIZE)) for path in paths]
    return [scan(log) for log in read_logs(files, args.format)]
