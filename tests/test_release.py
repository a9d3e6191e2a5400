"""Releases in version order."""

from __future__ import annotations

import itertools
import random

from hypothesis import given
from hypothesis import strategies as st

from kexec_lineage.model.release import Release, release_key

ORDERED = [
    "6.1.0-55-cloud-amd64",
    "6.1.0-56-cloud-amd64",
    "6.12.95+deb12-cloud-amd64",
    "6.18.3",
    "6.18.10",
    "6.19.0-rc4-next-20260107",
    "6.19.0-rc5",
    "6.19.0",
    "6.19.1",
    "7.1.0",
    "garbage",
]


def test_version_order() -> None:
    shuffled = ORDERED[:]
    random.Random(1).shuffle(shuffled)
    assert sorted(shuffled, key=release_key) == ORDERED
    assert [r.text for r in sorted(Release(t) for t in shuffled)] == ORDERED
    assert Release("6.19.0-rc4-next-20260107") < Release("6.19.0")


@given(st.lists(st.text(max_size=20), max_size=20))
def test_any_strings_sort(texts: list[str]) -> None:
    ordered = sorted(map(Release, texts))
    assert all(not b < a for a, b in itertools.pairwise(ordered))
