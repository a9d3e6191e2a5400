"""Wall time of ``kexec-lineage record`` at boot, beside ``python3 -c pass``.

Each run records a new boot (a fresh boot id) in a copied system tree with a
ledger of earlier boots, KHO debugfs, a kernel log and a pstore dump, i.e. the
work a real boot does. Best of several runs, same interpreter for both.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.host.trees import Tree

RUNS = 7


def best(argv: list[str], before: object = None) -> float:
    times = []
    for _ in range(RUNS):
        if callable(before):
            before()
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        handoff = Tree(root, "7.1.0").kho_boot(None)
        subprocess.run(
            [sys.executable, "-m", "kexec_lineage", "--root", tmp, "record"],
            check=True,
            capture_output=True,
        )
        tree = Tree(root, "7.1.2", "console=ttyS0")
        tree.kho_boot(handoff)
        tree.pstore(
            "dmesg-ramoops-0",
            b"Shutdown#1 Part1\n<6>[    0.000000] Linux version 7.1.0 (b@h) (gcc) #1\n"
            b"<5>[    9.000000] kexec_core: Starting new kernel\n",
        )

        def new_boot() -> None:
            (root / "proc/sys/kernel/random/boot_id").write_text(f"{uuid.uuid4()}\n")

        record = best([sys.executable, "-m", "kexec_lineage", "--root", tmp, "record"], new_boot)
        bare = best([sys.executable, "-c", "pass"])
    print(f"kexec-lineage record at boot (best of {RUNS})")
    print(f"{'':28}{'ms':>8}{'x bare':>9}")
    print(f"{'python3 -c pass (baseline)':28}{bare * 1000:8.1f}{1:9.2f}")
    print(f"{'kexec-lineage record':28}{record * 1000:8.1f}{record / bare:9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
