"""Chains in boot order: each boot after the boot it names, the given order kept
otherwise, bad data (cycles, self-references, unknown predecessors) ordered too."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kexec_lineage.model.boot import Boot
from kexec_lineage.model.chain import Chain, in_boot_order


def boot(boot_id: str, before: str | None = None) -> Boot:
    if before is None:
        return Boot("web-1", boot_id, "7.1.0", "cold")
    return Boot("web-1", boot_id, "7.1.0", "kexec", "7.1.0", 1, before)


def by_readiness(ordered: list[Boot]) -> list[Boot]:
    """The reference: again and again the oldest boot whose predecessor is placed
    (or unknown), the oldest of all where none is (a cycle). Quadratic."""
    known = {b.boot_id for b in ordered}
    placed: set[str] = set()
    out: list[Boot] = []
    waiting = list(ordered)
    while waiting:
        ready = next(
            (
                b
                for b in waiting
                if b.previous_boot_id is None
                or b.previous_boot_id not in known
                or b.previous_boot_id in placed
            ),
            waiting[0],
        )
        waiting.remove(ready)
        out.append(ready)
        placed.add(ready.boot_id)
    return out


@st.composite
def shuffled_chains(draw: st.DrawFn) -> list[Boot]:
    """Boots in any order, each naming any predecessor (itself, a missing boot,
    a cycle) but no two the same one, as a real host's records do."""
    n = draw(st.integers(0, 30))
    ids = [f"b-{i}" for i in range(n)]
    choices = draw(st.permutations([*ids, *(f"gone-{i}" for i in range(n)), *[None] * n]))
    boots = [boot(i, choices[k]) for k, i in enumerate(ids)]
    return draw(st.permutations(boots))


@given(shuffled_chains())
def test_the_linear_order_is_the_readiness_order(boots: list[Boot]) -> None:
    ordered = in_boot_order(boots)
    assert list(ordered) == by_readiness(boots)
    assert sorted(b.boot_id for b in ordered) == sorted(b.boot_id for b in boots)


def test_a_chain_sent_in_reverse_is_put_right() -> None:
    n = 20_000  # deeper than Python's recursion limit
    boots = [boot("b-0")] + [boot(f"b-{i}", f"b-{i - 1}") for i in range(1, n)]
    assert in_boot_order(reversed(boots)) == tuple(boots)


def test_a_late_record_moves_only_itself() -> None:
    a, b, c, d = boot("a"), boot("b", "a"), boot("c", "b"), boot("d")
    assert in_boot_order([b, a, d, c]) == (a, b, d, c)


def test_two_boots_naming_one_predecessor_follow_it_in_their_order() -> None:
    root, x, y, z = boot("root"), boot("x", "root"), boot("y", "root"), boot("z", "y")
    assert in_boot_order([z, y, x, root]) == (root, y, z, x)


def test_a_cycle_starts_at_its_oldest_boot() -> None:
    a, b, me = boot("a", "b"), boot("b", "a"), boot("me", "me")
    assert in_boot_order([me, b, a]) == (me, b, a)


def test_leading_to_walks_back_to_the_last_cold_boot() -> None:
    old, cold, k1, k2 = boot("old"), boot("cold"), boot("k1", "cold"), boot("k2", "k1")
    chain = Chain.of("web-1", [old, cold, k1])
    assert list(chain) == [old, cold, k1] and len(chain) == 3 and chain[-1] == k1
    assert chain.leading_to(k2) == Chain("web-1", (cold, k1, k2))
    orphan = boot("k9", "gone")
    assert list(chain.leading_to(orphan)) == [orphan]
    looped = Chain.of("web-1", [boot("p", "q"), boot("q", "p")])
    assert [b.boot_id for b in looped.leading_to(boot("r", "q"))] == ["p", "q", "r"]
