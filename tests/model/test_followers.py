"""The one follower map the lineage rules read, however a history is replayed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kexec_lineage.model.lineage import Followers, LineageParams, Sighting, reconcile


def test_each_id_maps_to_the_one_recorded_after_it() -> None:
    assert Followers(["a", "b", "c"]) == {"a": "b", "b": "c", "c": None}


def test_an_id_repeated_back_to_back_is_not_its_own_follower() -> None:
    assert Followers(["a", "a", "b", "b"]) == {"a": "b", "b": None}


def test_an_id_seen_again_later_keeps_its_first_follower() -> None:
    assert Followers(["a", "b", "a"]) == {"a": "b", "b": "a"}


@given(st.lists(st.sampled_from("abcde"), max_size=30))
def test_adding_one_at_a_time_equals_building_at_once(ids: list[str]) -> None:
    built = Followers()
    for boot_id in ids:
        built.add(boot_id)
    assert built == Followers(ids)
    for boot_id, later in built.items():
        assert later != boot_id
        assert later is None or later in built


def test_parameters_naming_a_boot_seen_twice_are_not_stale() -> None:
    # A journal that names boot "a" twice in a row: "a" has no successor yet, so
    # kexec_lineage.boot=a on this command line is believed.
    params = LineageParams(prev="7.2.13", count=1, boot="a")
    sighting = Sighting("h", "b", "7.3.4", params=params, recorded=Followers(["a", "a"]))
    boot = reconcile(sighting)
    assert boot.how == "kexec"
    assert boot.previous_release == "7.2.13"
