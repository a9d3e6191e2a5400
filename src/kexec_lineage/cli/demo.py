"""``kexec-lineage demo``: a simulated fleet, analysed, then served (the main job)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kexec_lineage.errors import InputError

__all__ = ("register", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "demo",
        parents=[common],
        help="simulate a fleet, analyse it, serve the dashboard",
        description="Simulate a fleet with injected kexec-transition bugs into a fresh SQLite "
        "file, print the analysis and the ground truth beside it, then serve the dashboard "
        "on loopback (--no-serve stops after the report).",
    )
    parser.add_argument("--hosts", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--db", type=Path, default=Path("build/demo/fleet.db"), help="SQLite file (replaced)"
    )
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--no-serve", action="store_true", help="stop after the report")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kexec_lineage.cli.analyze import analyze_store, render
    from kexec_lineage.fleet.store import open_store
    from kexec_lineage.sim.database import write_db
    from kexec_lineage.sim.fleet import simulate

    if args.hosts < 1 or args.days < 1:
        raise InputError("--hosts and --days must be at least 1")
    args.db.parent.mkdir(parents=True, exist_ok=True)
    for stale in (args.db, Path(f"{args.db}-wal"), Path(f"{args.db}-shm")):
        stale.unlink(missing_ok=True)
    fleet = simulate(args.hosts, args.days, args.seed)
    store = open_store(str(args.db))
    write_db(fleet, store)
    result = analyze_store(store)
    print(render(result))
    truth = fleet.truth()
    print("\nGROUND TRUTH (what the simulator injected)")
    for bug in truth["transition_bugs"]:
        span = bug["predecessors"][0]
        if len(bug["predecessors"]) > 1:
            span += f"..{bug['predecessors'][-1]}"
        print(
            f"- {bug['release']} after kexec from {span}: x{bug['multiplier']:.3g}, {bug['title']}"
        )
    for bug in truth["depth_bugs"]:
        print(f"- {bug['release']}: x{bug['multiplier']:.3g} per kexec, {bug['title']}")
    if args.no_serve:
        return 0
    import uvicorn

    from kexec_lineage.server.app import create_app

    print(f"\ndashboard: http://127.0.0.1:{args.port}/  (Ctrl-C stops)")
    uvicorn.run(
        create_app(store, local=True), host="127.0.0.1", port=args.port, log_level="warning"
    )
    return 0
