"""
Chain
-----

A host's boots in boot order: from a cold boot through each kexec to the
next. Records reach the collector out of order (a boot sent from its spool
after its successor's, a log ingested late), so the stored order is only a
start; :func:`in_boot_order` puts each boot after the boot it names as its
predecessor. The agent and the store both order chains through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from kexec_lineage.model.boot import Boot

__all__ = ("Chain", "in_boot_order")


def in_boot_order(boots: Iterable[Boot]) -> tuple[Boot, ...]:
    """``boots`` (oldest first) with each boot moved right after the boot it
    names as its predecessor where that comes later, the order kept otherwise.

    A boot whose predecessor is not among ``boots`` stays where it is; where
    bad data makes predecessors a cycle, the oldest boot left goes first.
    Linear in the number of boots: a waiting boot is parked on its
    predecessor and placed with it.
    """
    ordered = list(boots)
    known = {b.boot_id for b in ordered}
    placed_ids: set[str] = set()
    placed = [False] * len(ordered)
    waiting: dict[str, list[int]] = {}
    out: list[Boot] = []

    def place(first: int) -> None:
        # An explicit stack: a chain sent in reverse would nest as deep as it is long.
        stack: list[Iterator[int]] = [iter((first,))]
        while stack:
            i = next(stack[-1], None)
            if i is None:
                stack.pop()
            elif not placed[i]:
                placed[i] = True
                out.append(ordered[i])
                placed_ids.add(ordered[i].boot_id)
                stack.append(iter(waiting.pop(ordered[i].boot_id, ())))

    for i, boot in enumerate(ordered):
        before = boot.previous_boot_id
        if before is None or before not in known or before in placed_ids:
            place(i)
        else:
            waiting.setdefault(before, []).append(i)
    for i in range(len(ordered)):
        place(i)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Chain(Sequence[Boot]):
    """The boots of ``host`` in boot order (:func:`in_boot_order`)."""

    host: str
    boots: tuple[Boot, ...] = ()

    @classmethod
    def of(cls, host: str, boots: Iterable[Boot]) -> Chain:
        """The chain of ``boots``, given oldest first."""
        return cls(host, in_boot_order(boots))

    def leading_to(self, boot: Boot) -> Chain:
        """The boots from the last cold boot up to ``boot``, as far as this chain knows;
        ``boot`` need not be in it yet (the boot being recorded)."""
        by_id = {b.boot_id: b for b in self.boots}
        chain = [boot]
        seen = {boot.boot_id}
        while chain[-1].how != "cold":
            before = by_id.get(chain[-1].previous_boot_id or "")
            if before is None or before.boot_id in seen:
                break
            chain.append(before)
            seen.add(before.boot_id)
        return Chain(self.host, tuple(reversed(chain)))

    def __len__(self) -> int:
        return len(self.boots)

    def __iter__(self) -> Iterator[Boot]:
        return iter(self.boots)

    @overload
    def __getitem__(self, index: int) -> Boot: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Boot]: ...
    def __getitem__(self, index: int | slice) -> Boot | Sequence[Boot]:
        return self.boots[index]
