"""
Weighing
--------

The count rows as the tests of :mod:`kexec_lineage.fleet.analysis` read them
(:class:`Weighed`): only the transitions booted on :data:`MIN_HOSTS` hosts at
least, their days summed, and the exposure of each day (boot-hours, or boots
where hours are unknown) weighed by the fleet's crash rate that day against all
days' (:func:`day_weights`). A fleet-wide incident of a few days raises the
rates of whatever was rolled out then, not of a transition.

:func:`weigh` does it in Python, for count rows from anywhere (the simulator,
Spark); :mod:`kexec_lineage.fleet.weighing_sql` does the same inside the
store's database, which then hands over one row per cell and no day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kexec_lineage.fleet.count_table import NO_DAY, CountRow, HostSpread, transitions_of
from kexec_lineage.model.transition import UNKNOWN, Transition

__all__ = ("DAY_EVENTS", "MIN_HOSTS", "Weighed", "day_weights", "known_transitions", "weigh")

#: Where the count tables come with their :class:`HostSpread`: a transition counts in
#: the tests only once booted on this many hosts, and a suspect range starts at a
#: predecessor whose crashed boots come from this many: one host, however many
#: boots it sends, neither makes a suspect nor moves the comparison.
MIN_HOSTS = 3
#: A day's crash rate is shrunk towards the fleet's by this many crashed boots: a day of
#: few boots weighs as much as any.
DAY_EVENTS = 20.0


@dataclass(frozen=True, slots=True)
class Weighed:
    """``rows``: per (release, predecessor, how, depth, fact set), day :data:`NO_DAY`,
    the weighed exposure in ``hours``; the other fields what all the fleet's rows add
    up to, unweighed and ungated (the transitions with a known predecessor, kdump boots
    aside)."""

    rows: Sequence[CountRow]
    transitions: Sequence[Transition]
    boots: int
    crashed_boots: int


def day_weights(days: Iterable[tuple[int, int, float, int]]) -> tuple[bool, dict[int, float]]:
    """Whether boot-hours are recorded (else boots are the exposure), and day -> the
    weight of its exposure, from the (day, crashed boots, boot-hours, boots) of every
    row that counts, in whatever grouping the rows come."""
    listed = list(days)
    hours = sum(h for _, _, h, _ in listed) > 0
    daily: dict[int, list[float]] = defaultdict(lambda: [0, 0.0])
    for day, crashed, h, boots in listed:
        daily[day][0] += crashed
        daily[day][1] += h if hours else boots
    crashed_all = sum(x for x, _ in daily.values())
    exposure = sum(e for _, e in daily.values())
    rate = crashed_all / exposure if exposure else 0.0
    return hours, {
        day: 1.0 if day == NO_DAY or not rate else (x + DAY_EVENTS) / (e * rate + DAY_EVENTS)
        for day, (x, e) in daily.items()
    }


def known_transitions(rows: Iterable[CountRow]) -> list[Transition]:
    """The transitions of ``rows`` with a known predecessor, kdump boots aside: those
    the analysis lists."""
    return transitions_of(r for r in rows if r.how != "kdump" and r.predecessor != UNKNOWN)


def weigh(
    rows: Sequence[CountRow], spread: Mapping[tuple[str, str], HostSpread] | None = None
) -> Weighed:
    """``rows`` weighed; without ``spread`` every transition counts."""
    listed = rows
    if spread is not None:
        none = HostSpread(0, 0)
        rows = [r for r in rows if spread.get((r.release, r.predecessor), none).hosts >= MIN_HOSTS]
    hours, weight = day_weights((r.day, r.crashed_boots, r.hours, r.boots) for r in rows)
    sums: dict[tuple[str, str, str, int, str], list[float]] = {}
    for r in rows:
        total = sums.setdefault((r.release, r.predecessor, r.how, r.depth, r.facts), [0] * 5)
        total[0] += r.boots
        total[1] += (r.hours if hours else r.boots) * weight[r.day]
        total[2] += r.crashed_boots
        total[3] += r.crashes
        total[4] += r.early_crashed_boots
    return Weighed(
        [
            CountRow(*key, NO_DAY, int(n), h, int(x), int(c), int(e))
            for key, (n, h, x, c, e) in sums.items()
        ],
        known_transitions(listed),
        sum(r.boots for r in listed),
        sum(r.crashed_boots for r in listed),
    )
