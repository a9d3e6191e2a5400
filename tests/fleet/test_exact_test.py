"""The stratified exact test (:func:`~kexec_lineage.fleet.stats.stratified_exact_p`)
against the plainest reference: one stratum is SciPy's binomial test, many strata a
full convolution of their binomial distributions, nothing cut."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from kexec_lineage.fleet import stats as kexec_stats
from kexec_lineage.fleet.stats import Strata, Stratum, stratified_exact_p


def reference_p(strata: list[Stratum]) -> float:
    """P(exposed crashes >= observed), each informative stratum's exposed crashes
    binomial with its share of the exposure, convolved in full."""
    informative = [
        s
        for s in strata
        if s.exposure > 0 and s.other_exposure > 0 and s.crashed + s.other_crashed > 0
    ]
    if not informative:
        return 1.0
    observed = sum(s.crashed for s in informative)
    if len(informative) == 1:
        (s,) = informative
        n = s.crashed + s.other_crashed
        return float(stats.binomtest(s.crashed, n, s.exposure / s.total, "greater").pvalue)
    distribution = np.ones(1)
    for s in informative:
        n = s.crashed + s.other_crashed
        distribution = np.convolve(
            distribution, stats.binom.pmf(np.arange(n + 1), n, s.exposure / s.total)
        )
    return min(1.0, float(distribution[observed:].sum()))


exposures = st.one_of(
    st.just(0.0),
    st.floats(1e-6, 1e9, allow_nan=False),
    st.sampled_from([1.0, 3600.0, 1e12]),
)
crash_counts = st.one_of(st.integers(0, 40), st.sampled_from([0, 1, 500, 3000]))
strata_lists = st.lists(
    st.builds(Stratum, crash_counts, exposures, crash_counts, exposures), min_size=0, max_size=6
)


def close(p: float, q: float) -> bool:
    # Mass below 1e-300 of a distribution's largest may be cut: such p are all ~0.
    return math.isclose(p, q, rel_tol=1e-9, abs_tol=1e-280)


@settings(max_examples=400, deadline=None, database=None)
@given(strata_lists)
def test_the_exact_test_is_the_full_convolution(strata: list[Stratum]) -> None:
    p = stratified_exact_p(strata)
    assert 0.0 <= p <= 1.0
    assert close(p, reference_p(strata)), (p, reference_p(strata))
    assert stratified_exact_p(Strata.of(strata)) == p


@settings(max_examples=200, deadline=None, database=None)
@given(st.builds(Stratum, crash_counts, exposures, crash_counts, exposures), strata_lists)
def test_strata_without_information_change_nothing(one: Stratum, others: list[Stratum]) -> None:
    # Strata of no crashes, or no exposure on a side, carry no information.
    blank = [Stratum(0, 5.0, 0, 7.0), Stratum(3, 0.0, 4, 9.0), Stratum(2, 4.0, 1, 0.0)]
    assert close(stratified_exact_p([one, *blank]), stratified_exact_p([one]))
    assert close(stratified_exact_p([*blank, *others]), stratified_exact_p(others))


@settings(max_examples=100, deadline=None, database=None)
@given(strata_lists)
def test_distributions_computed_a_block_at_a_time_are_the_same(strata: list[Stratum]) -> None:
    # A block of 64 values holds one distribution of 40 crashes: most strata go alone,
    # those of 500 or 3000 crashes each past the block's bound.
    whole = stratified_exact_p(strata)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kexec_stats, "_PMF_BLOCK", 64)
        assert stratified_exact_p(strata) == whole
