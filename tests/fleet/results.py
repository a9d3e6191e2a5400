"""Comparing analyses made by different engines."""

from __future__ import annotations

import math
from typing import Any


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON-like values differ; floats may differ by summation order only
    (relative 1e-9): engines add the same numbers in different orders."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a.keys() ^ b.keys())}"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items against {len(b)}"]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float | int):
        close = math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300)
        return [] if close else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]
