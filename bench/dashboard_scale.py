"""The dashboard's overview on a store of 10M boots, against the same page on a store
of 10k boots, in the same run: a real collector (``kexec-lineage serve --local``) on
each store of :mod:`bench.fleet_history`, timed once its first analysis is ready
(median of 100 requests, taken in turns). ``BENCH_DASHBOARD_BOOTS`` lists the sizes, the first the
baseline.
"""

from __future__ import annotations

import os
import statistics
import time
import urllib.request

from tests.collector import Collector

from bench.collector_load import ready, timed
from bench.fleet_history import fleet_path

ROUNDS = 100
SIZES = [int(n) for n in os.environ.get("BENCH_DASHBOARD_BOOTS", "10000,10000000").split(",")]


def main() -> int:
    collectors = [
        Collector(str(fleet_path(boots)), local=True, options=("--analysis-every", "3600"))
        for boots in SIZES
    ]
    first, sizes = [], []
    try:
        for collector in collectors:
            start = time.perf_counter()
            collector.start(timeout=120)
            ready(collector.url + "/v1/analysis", "")
            first.append(time.perf_counter() - start)
            with urllib.request.urlopen(collector.url + "/", timeout=60) as response:
                sizes.append(len(response.read()))
        # Turn about, so that whatever else the machine does weighs on every store alike.
        times: list[list[float]] = [[] for _ in collectors]
        for _ in range(ROUNDS):
            for collector, taken in zip(collectors, times, strict=True):
                taken.append(timed(collector.url + "/"))
    finally:
        for collector in collectors:
            collector.stop()
    print(f"the dashboard's overview (median of {ROUNDS}), against the smallest store's")
    print(f"{'boots':>12}{'first analysis s':>18}{'page KiB':>10}{'overview ms':>13}{'x':>7}")
    medians = [statistics.median(taken) for taken in times]
    for boots, seconds, size, median in zip(SIZES, first, sizes, medians, strict=True):
        print(
            f"{boots:>12,}{seconds:>18.1f}{size / 1024:>10.0f}{median * 1000:>13.1f}"
            f"{median / medians[0]:>7.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
