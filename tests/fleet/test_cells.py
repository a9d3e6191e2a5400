"""The count rows grouped as arrays (:class:`~kexec_lineage.fleet.cells.Grid`) against
plain sums in dicts, and the range search's test against the exact test of its strata."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kexec_lineage.fleet import cells as cells_module
from kexec_lineage.fleet.cells import Grid, best_range
from kexec_lineage.fleet.count_table import NO_DAY, CountRow
from kexec_lineage.fleet.stats import stratified_exact_p
from kexec_lineage.model.transition import COLD, UNKNOWN

MEASURES = (
    ("crashed_boots", "boots", "hours"),
    ("early_crashed_boots", "crashed_boots", "crashed_boots"),
)

count_rows = st.lists(
    st.builds(
        CountRow,
        st.sampled_from(["7.1", "7.2", "7.10"]),
        st.sampled_from(["7.0", "7.1", "6.9", COLD, UNKNOWN]),
        st.sampled_from(["cold", "kexec", "kdump"]),
        st.integers(0, 2),
        st.sampled_from(["", "f1", "f2"]),
        st.just(NO_DAY),
        st.integers(0, 50),
        st.floats(0, 1e4, allow_nan=False),
        st.integers(0, 20),
        st.integers(0, 30),
        st.integers(0, 5),
    ),
    max_size=30,
)


def reference(
    rows: list[CountRow],
    host_class: dict[str, str],
    measure: tuple[str, str, str],
    keep: list[bool],
) -> dict[str, dict[str, dict[tuple[str, int], tuple[float, ...]]]]:
    """release -> predecessor -> stratum -> the three numbers, of the rows kept."""
    out: dict[str, dict[str, dict[tuple[str, int], list[float]]]] = {}
    for row, chosen in zip(rows, keep, strict=True):
        if not chosen or row.how == "kdump" or row.predecessor == UNKNOWN:
            continue
        stratum = (host_class.get(row.facts, ""), row.depth)
        cell = out.setdefault(row.release, {}).setdefault(row.predecessor, {})
        sums = cell.setdefault(stratum, [0.0, 0.0, 0.0])
        for i, name in enumerate(measure):
            sums[i] += getattr(row, name)
    return {
        r: {p: {s: tuple(v) for s, v in cells.items()} for p, cells in by.items()}
        for r, by in out.items()
    }


@settings(max_examples=300, deadline=None, database=None)
@given(count_rows, st.data())
def test_grid_releases_are_the_rows_summed(rows: list[CountRow], data: st.DataObject) -> None:
    host_class = {"f1": "big", "f2": "big"} if data.draw(st.booleans()) else {"f1": "small"}
    grid = Grid(rows, host_class)
    kept = [r for r in rows if r.how != "kdump" and r.predecessor != UNKNOWN]
    strata = list(dict.fromkeys((host_class.get(r.facts, ""), r.depth) for r in kept))
    keep = data.draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows)))
    # (The mask is of the grid's rows: the kept ones, in order.)
    where = np.array(
        [
            k
            for r, k in zip(rows, keep, strict=True)
            if r.how != "kdump" and r.predecessor != UNKNOWN
        ],
        dtype=bool,
    )
    for measure in MEASURES:
        for chosen, grouped in (
            (None, grid.releases(measure)),
            (where, grid.releases(measure, where)),
        ):
            flags = keep if chosen is not None else [True] * len(rows)
            expected = reference(rows, host_class, measure, flags)
            assert list(grouped) == list(expected)
            for release, cells in grouped.items():
                assert list(cells) == list(expected[release])
                assert cells.values.shape == (len(cells), len(strata), 3)
                for i, predecessor in enumerate(cells):
                    for s, stratum in enumerate(strata):
                        want = expected[release][predecessor].get(stratum, (0.0, 0.0, 0.0))
                        assert np.allclose(cells.values[i, s], want, rtol=1e-12, atol=1e-9)


@settings(max_examples=200, deadline=None, database=None)
@given(count_rows)
def test_a_range_p_is_its_strata_exact_p_corrected(rows: list[CountRow]) -> None:
    # Grown or not, a range's p is the exact test of its strata, times the predecessors
    # it was chosen among.
    grid = Grid(rows, {"f1": "big"})
    for release, cells in grid.releases(MEASURES[0]).items():
        found = best_range(release, cells)
        if found is None:
            continue
        tested = cells_module.test(list(found.predecessors), cells)
        assert tested is not None
        keyed = tested[0]
        ordered = [p for p in cells if p != COLD]
        assert found.p == min(1.0, stratified_exact_p(found.strata) * len(ordered))
        assert np.array_equal(np.stack(found.strata), np.stack(keyed))
