"""Wall time of ``kexec-lineage record`` at boot, beside ``python3 -c pass``.

Each run records a new boot (a fresh boot id) in a copied system tree with a
ledger of earlier boots, KHO debugfs, a kernel log and a pstore dump, i.e. the
work a real boot does; then the same with a ledger grown to 100k boots and a
35 MB rotated file beside it, which ``record`` must not read whole. Best of
several runs, same interpreter for all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.host.trees import Tree

from kexec_lineage.model.boot import Boot

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


def ledger_lines(count: int) -> bytes:
    """``count`` boot entries as the agent writes them."""
    out = []
    for n in range(count):
        boot = Boot(
            "web-1", str(uuid.uuid4()), "7.0.0", "kexec", "6.19.0", n + 1, machine_id="0" * 32
        )
        entry = {"type": "boot", "time": n, "boot": boot.as_dict(), "started_at": n}
        out.append(json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    return b"".join(out)


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

        argv = [sys.executable, "-m", "kexec_lineage", "--root", tmp, "record"]
        record = best(argv, new_boot)
        state = root / "var/lib/kexec-lineage"
        filler = ledger_lines(100_000)

        def new_boot_huge_ledger() -> None:
            # Grown again each time: the record before rotated it.
            own = (state / "ledger.jsonl").read_bytes()[-(64 << 10) :]
            (state / "ledger.jsonl.1").write_bytes(filler + filler[: 5 << 20])
            (state / "ledger.jsonl").write_bytes(filler + own[own.find(b"\n") + 1 :])
            os.sync()  # a ledger grown over years is on disk, not dirty in the page cache
            new_boot()

        huge = best(argv, new_boot_huge_ledger)
        bare = best([sys.executable, "-c", "pass"])
    print(f"kexec-lineage record at boot (best of {RUNS})")
    print(f"{'':28}{'ms':>8}{'x bare':>9}")
    print(f"{'python3 -c pass (baseline)':28}{bare * 1000:8.1f}{1:9.2f}")
    print(f"{'kexec-lineage record':28}{record * 1000:8.1f}{record / bare:9.2f}")
    print(f"{'  ... 100k-boot ledger':28}{huge * 1000:8.1f}{huge / bare:9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
