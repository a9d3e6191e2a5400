"""
Kernel text
-----------

Strings that come from a kernel (release names, log lines) are bytes that are
usually UTF-8. They are kept as ``str`` decoded with ``surrogateescape`` so
that no byte is lost and the original bytes come back exactly, and are shown
with invalid bytes escaped as ``\\xNN``.
"""

from __future__ import annotations

__all__ = ("from_kernel", "printable", "to_kernel")


def from_kernel(raw: bytes) -> str:
    """Kernel bytes as a ``str`` that round-trips through :func:`to_kernel`."""
    return raw.decode("utf-8", "surrogateescape")


def to_kernel(text: str) -> bytes:
    """The exact kernel bytes behind a string made by :func:`from_kernel`."""
    return text.encode("utf-8", "surrogateescape")


def printable(text: str) -> str:
    """``text`` with bytes that were not UTF-8 shown as ``\\xNN`` escapes."""
    return to_kernel(text).decode("utf-8", "backslashreplace")
