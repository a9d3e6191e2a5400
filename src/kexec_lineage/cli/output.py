"""
Output
------

The two shapes every command prints: aligned text tables for people, and one
JSON document (``--json``) for programs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from kexec_lineage.model.text import printable

__all__ = ("print_json", "table")


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {k: _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


def print_json(value: Any, out: TextIO | None = None) -> None:
    """``value`` as indented JSON on ``out`` (default: the current ``sys.stdout``).

    Kernel bytes that are not UTF-8 show as ``\\xNN``, as in text output:
    lone surrogates in JSON would trip every consumer, our collector included.
    """
    out = out or sys.stdout
    json.dump(_printable(value), out, indent=2)
    out.write("\n")


def table(rows: Iterable[Sequence[object]], headers: Sequence[str] | None = None) -> str:
    """Rows as left-aligned columns separated by two spaces, no trailing blanks."""
    lines = [[str(cell) for cell in row] for row in rows]
    if headers is not None:
        lines.insert(0, list(headers))
    if not lines:
        return ""
    widths = [
        max(len(line[i]) for line in lines if i < len(line)) for i in range(max(map(len, lines)))
    ]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)).rstrip()
        for line in lines
    )
