"""Crash-free scan throughput: our crash parser against ``grep -cE`` on the same headers.

Both read the same generated log from the page cache; each is timed best of
three in this run, and the ratio is what matters (machines differ, ratios
much less). Run with ``make bench``; ``BENCH_MB`` sets the log size.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.crash_free_log import crash_free_log
from kexec_lineage.logs.crash_report import OOPS_HEADERS, parse_crashes

REPO = Path(__file__).resolve().parent.parent
SIZE_MB = int(os.environ.get("BENCH_MB", "200"))


def best_of(runs: int, work: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def ere(headers: tuple[bytes, ...]) -> str:
    """The headers as one POSIX extended regular expression."""
    return "|".join(re.sub(r"([.[\]()*+?{}|^$\\])", r"\\\1", h.decode()) for h in headers)


def main() -> int:
    path = crash_free_log(REPO / "build/bench" / f"crash-free-{SIZE_MB}MB.log", SIZE_MB << 20)
    size_mb = path.stat().st_size / (1 << 20)
    pattern = ere(OOPS_HEADERS)

    def grep() -> int:
        proc = subprocess.run(
            ["grep", "-cE", pattern, str(path)], capture_output=True, text=True, check=False
        )
        return int(proc.stdout.strip() or 0)

    def ours() -> int:
        return len(parse_crashes(path.read_bytes()))

    def cli() -> int:
        cmd = [sys.executable, "-m", "kexec_lineage", "crashes", "--json", str(path)]
        out = subprocess.run(cmd, capture_output=True, check=True).stdout
        return out.count(b'"title"')

    grep_s, grep_hits = best_of(3, grep)
    ours_s, crashes = best_of(3, ours)
    cli_s, cli_crashes = best_of(1, cli)
    if crashes or cli_crashes:
        print(f"error: the crash-free log gave {crashes} crashes", file=sys.stderr)
        return 1
    rows = [
        ("grep -cE (baseline)", grep_s, f"{grep_hits} header lines"),
        ("parse_crashes()", ours_s, "0 crashes"),
        ("kexec-lineage crashes", cli_s, "0 crashes, whole command"),
    ]
    print(f"crash-free scan, {size_mb:.0f} MB, {len(OOPS_HEADERS)} oops headers")
    print(f"{'':24}{'MB/s':>8}{'x grep':>9}  note")
    for name, seconds, note in rows:
        print(f"{name:24}{size_mb / seconds:8.0f}{grep_s / seconds:9.2f}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
