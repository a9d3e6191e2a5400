"""``kexec-lineage simulate``: a simulated fleet with injected faults, into a
database or as console logs, and the ground truth beside it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kexec_lineage.cli.extras import missing_extra
from kexec_lineage.cli.fleetdb import open_db
from kexec_lineage.cli.progress import Progress
from kexec_lineage.errors import InputError

#: :data:`kexec_lineage.sim.scenario.KINDS`, which needs the sim extra.
KINDS = ("transition", "fact", "culprit", "early", "flaky", "incident", "none")

__all__ = ("register", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "simulate",
        parents=[common],
        help="simulate a fleet with known faults, into a database or console logs",
        description="Simulate hosts that reboot (kexec or cold) through a release rollout, "
        "with crash rates raised by injected transition and depth bugs and by host class. "
        "The same seed gives the same fleet; --truth gets the injected faults as JSON.",
    )
    parser.add_argument("--hosts", type=int, required=True, metavar="N", help="number of hosts")
    parser.add_argument(
        "--days", type=float, default=60.0, metavar="D", help="window in days (default: 60)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed (default: 0)")
    parser.add_argument(
        "--kind",
        choices=KINDS,
        default="transition",
        help="what to inject: transition and depth bugs (default), transition bugs on the "
        "hosts of one fact, culprit kernels, early-boot bugs, flaky hosts, a fleet-wide "
        "incident, or nothing",
    )
    output = parser.add_mutually_exclusive_group(required=True)
    output.add_argument(
        "--db", metavar="URL", help="store the fleet in this database (SQLite path or URL)"
    )
    output.add_argument(
        "--logs", type=Path, metavar="DIR", help="write one console log per host into DIR"
    )
    parser.add_argument(
        "--truth", type=Path, required=True, metavar="FILE", help="write the injected faults here"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from kexec_lineage.sim.console_logs import write_logs
        from kexec_lineage.sim.database import write_db
        from kexec_lineage.sim.fleet import simulate
    except ImportError as exc:
        raise missing_extra(exc, "simulate") from None

    fleet = simulate(args.hosts, args.days, args.seed, args.kind)
    truth = fleet.truth()
    try:
        args.truth.write_text(json.dumps(truth, indent=2) + "\n")
    except OSError as exc:
        raise InputError(f"cannot write {args.truth}: {exc.strerror or exc}") from None
    progress = Progress(fleet.hosts, "simulated hosts written")
    if args.db is not None:
        store = open_db(args)
        try:
            write_db(fleet, store, progress.update)
        finally:
            store.dispose()
    else:
        write_logs(fleet, args.logs, progress.update)
    boot, _, _ = fleet.crash_titles()
    print(
        f"simulated {fleet.hosts} hosts over {args.days:g} days (seed {args.seed}): "
        f"{len(fleet.boots)} boots, {len(set(boot.tolist()))} crashed, {len(boot)} crashes; "
        f"bugs: {len(truth['transition_bugs'])} transition, {len(truth['depth_bugs'])} depth"
        + (f", {len(truth['culprits'])} culprit" if truth["culprits"] else "")
    )
    return 0
