"""``kexec-lineage kho-chain``: a modelled kexec chain across a KHO ABI change.

Shows the problem the project solves at its root: the kernel's own record of
the previous kernel is lost exactly when the KHO ABI changes, i.e. at upgrades.
"""

from __future__ import annotations

import argparse
from typing import Any

from kexec_lineage.cli.output import print_json, table
from kexec_lineage.model.text import printable

__all__ = ("register", "run")

_CHAIN = (
    ("7.1.0", "kho-v3"),
    ("7.1.2", "kho-v3"),
    ("7.1.3", "kho-v3"),
    ("7.2.0", "kho-v4"),
    ("7.2.1", "kho-v4"),
)


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "kho-chain",
        parents=[common],
        help="walk a modelled kexec chain across a KHO ABI change",
        description="Cold-boot a kernel, then kexec (kexec -s) through a chain whose KHO ABI "
        "changes from kho-v3 to kho-v4, and show what each kernel logs and hands on.",
    )
    parser.add_argument("--json", action="store_true", help="print the boots as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kexec_lineage.abi.kho_boot import Kernel, kexec_chain

    kernels = [Kernel(release, kho) for release, kho in _CHAIN]
    boots = kexec_chain(kernels)
    hows = ["cold"] + ["kexec -s"] * (len(boots) - 1)
    if args.json:
        print_json(
            [
                {
                    "how": how,
                    "release": kernel.release,
                    "kho": kernel.kho,
                    "kernel_lines": list(boot.lines),
                    "handed_on": None
                    if boot.handed_on is None
                    else {
                        "previous_release": printable(boot.handed_on.previous_release),
                        "kexec_count": boot.handed_on.kexec_count,
                    },
                }
                for how, kernel, boot in zip(hows, kernels, boots, strict=True)
            ]
        )
        return 0
    rows = [
        (
            how,
            kernel.release,
            kernel.kho,
            boot.handed_on.kexec_count if boot.handed_on else "-",
            "; ".join(boot.lines) or "(cold boot: nothing)",
        )
        for how, kernel, boot in zip(hows, kernels, boots, strict=True)
    ]
    print(table(rows, ("BOOT", "RELEASE", "KHO ABI", "HANDS ON COUNT", "KERNEL LOG")))
    print(
        "\nAt 7.1.3 -> 7.2.0 the KHO ABI changes (kho-v3 -> kho-v4): the new kernel rejects the\n"
        "incoming tree, logs no 'exec from' line and restarts its count at 1. The host keeps\n"
        "the chain only through kexec-lineage's own command-line parameters."
    )
    return 0
