"""Timing for the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def best_of(runs: int, run: Callable[[], T], *, warm: bool = False) -> tuple[float, T]:
    """The fewest seconds of ``runs`` calls of ``run``, and what the last call returned;
    with ``warm``, after one more call that fills the caches."""
    if warm:
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result
