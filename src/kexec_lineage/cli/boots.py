"""``kexec-lineage boots``: the boots in kernel logs and how each began and ended."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from kexec_lineage.abi.cmdline import format_params
from kexec_lineage.cli.logfiles import add_log_arguments, scan_files
from kexec_lineage.cli.output import print_json, table

if TYPE_CHECKING:
    from kexec_lineage.logs.boots import LogBoot
    from kexec_lineage.logs.scan import ScannedLog

__all__ = ("register", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "boots",
        parents=[common],
        help="list the boots in kernel logs",
        description="Split kernel logs into boots: release, how each started (cold, kexec, "
        "kdump) and ended, the KHO line, kexec-lineage's parameters, crash count.",
    )
    add_log_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    found = [(scanned, boot) for scanned in scan_files(args) for boot in scanned.boots]
    if args.json:
        print_json([_as_json(scanned, boot) for scanned, boot in found])
        return 0
    print(
        table(
            [
                (
                    scanned.log.origin,
                    boot.index,
                    boot.release or "?",
                    boot.started,
                    boot.kho_line or "-",
                    " ".join(format_params(boot.params)) or "-",
                    boot.ended or "cut off",
                    scanned.crash_count(boot.index),
                )
                for scanned, boot in found
            ],
            ("FILE", "BOOT", "RELEASE", "STARTED", "KHO", "PARAMS", "ENDED", "CRASHES"),
        )
    )
    return 0


def _as_json(scanned: ScannedLog, boot: LogBoot) -> dict[str, Any]:
    return {
        "file": scanned.log.origin,
        "host": scanned.log.host,
        "source": scanned.log.source,
        "boot": boot.index,
        "offset": boot.start,
        "boot_id": boot.boot_id,
        "release": boot.release,
        "started": boot.started,
        "start_evidence": list(boot.start_evidence),
        "cmdline": boot.cmdline,
        "kho_line": boot.kho_line,
        "kho_previous_release": boot.kho_exec_from,
        "kho_count": boot.kho_count,
        "kho_lines": list(boot.kho_lines),
        "params": {
            "prev": boot.params.prev,
            "count": boot.params.count,
            "boot": boot.params.boot,
            "problems": list(boot.params.problems),
        },
        "ended": boot.ended,
        "facts": dict(boot.facts),
        "crashes": scanned.crash_count(boot.index),
    }
