"""
Release
-------

A kernel release as ``uname -r`` prints it, in version order:
``6.19.0-rc4-next-20260107`` < ``6.19.0-rc5`` < ``6.19.0`` < ``6.19.1`` <
``6.20.0``. Distribution suffixes order by their numbers
(``6.1.0-55-cloud-amd64`` < ``6.1.0-56-cloud-amd64``). Strings that are not
releases at all sort after every release, among themselves by text.
"""

from __future__ import annotations

import re
from functools import total_ordering

__all__ = ("Release", "release_key")

_RELEASE_RE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?(?:-rc(\d+))?(.*)", re.S)
_NUMBER_RE = re.compile(r"\d+")


def release_key(text: str) -> tuple[object, ...]:
    """The sort key that puts releases in version order."""
    match = _RELEASE_RE.fullmatch(text)
    if match is None:
        return (1, text)
    major, minor, patch, rc, rest = match.groups()
    # A release candidate comes before its release: stage 0 against 1.
    stage = (0, int(rc)) if rc is not None else (1, 0)
    numbers = tuple(int(n) for n in _NUMBER_RE.findall(rest))
    return (0, int(major), int(minor), int(patch or 0), *stage, numbers, rest)


@total_ordering
class Release:
    """A release string that compares in version order."""

    __slots__ = ("_key", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._key = release_key(text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Release) and self.text == other.text

    def __lt__(self, other: Release) -> bool:
        return (self._key, self.text) < (other._key, other.text)

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Release({self.text!r})"

    def __str__(self) -> str:
        return self.text
