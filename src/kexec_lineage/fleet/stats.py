"""
Statistics
----------

The tests and estimates the analysis needs, on small count tables. SciPy and
statsmodels do the numerics; what they do not offer ready-made is written here
from their parts, each with the reason:

- :func:`stratified_exact_p`: the exact conditional test of a common odds ratio
  of 1 across strata (the exact form of Cochran-Mantel-Haenszel), one-sided.
  SciPy has Fisher's test for one 2x2 table only; the stratified version is
  the convolution of each stratum's hypergeometric distribution.
- :func:`mantel_haenszel_rr`: the Mantel-Haenszel risk ratio (statsmodels
  pools odds ratios; for rare events the two agree, but the risk ratio is what
  a fleet operator reads as "N times more often").
- :func:`beta_prior`: a beta prior fitted to many cells by the method of
  moments, for empirical-Bayes shrinkage of small cells.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import Table

__all__ = (
    "Stratum",
    "beta_prior",
    "bh",
    "clopper_pearson",
    "mantel_haenszel_rr",
    "stratified_exact_p",
    "trend_p",
)


@dataclass(frozen=True, slots=True)
class Stratum:
    """One stratum's 2x2 table: crashed and total boots, exposed and not."""

    crashed: int
    boots: int
    other_crashed: int
    other_boots: int

    @property
    def total(self) -> int:
        return self.boots + self.other_boots


def stratified_exact_p(strata: Sequence[Stratum]) -> float:
    """P(exposed crashes >= observed | every stratum's margins), under no effect.

    One-sided: the question is whether the exposed boots crash *more*.
    """
    distribution = np.ones(1)
    low_total = 0
    observed = 0
    for s in strata:
        crashed_total = s.crashed + s.other_crashed
        if s.boots == 0 or s.other_boots == 0 or crashed_total == 0:
            continue  # no information in this stratum
        low = max(0, crashed_total - s.other_boots)
        high = min(s.boots, crashed_total)
        support = np.arange(low, high + 1)
        pmf = stats.hypergeom.pmf(support, s.total, crashed_total, s.boots)
        distribution = np.convolve(distribution, pmf)
        low_total += low
        observed += s.crashed
    if observed == 0 and low_total == 0 and len(distribution) == 1:
        return 1.0
    index = observed - low_total
    tail = float(distribution[max(index, 0) :].sum())
    return min(1.0, max(tail, 0.0))


def mantel_haenszel_rr(strata: Sequence[Stratum]) -> float:
    """The Mantel-Haenszel risk ratio of exposed to other boots (inf for none in others)."""
    numerator = sum(s.crashed * s.other_boots / s.total for s in strata if s.total)
    denominator = sum(s.other_crashed * s.boots / s.total for s in strata if s.total)
    if denominator == 0:
        return math.inf if numerator else 1.0
    return numerator / denominator


def bh(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg q-values, in the order given."""
    if not p_values:
        return []
    return [float(q) for q in stats.false_discovery_control(np.asarray(p_values), method="bh")]


def clopper_pearson(crashed: int, boots: int, level: float = 0.95) -> tuple[float, float]:
    """The exact confidence interval of a crash rate."""
    if boots == 0:
        return (0.0, 1.0)
    interval = stats.binomtest(crashed, boots).proportion_ci(level, method="exact")
    return (float(interval.low), float(interval.high))


def beta_prior(cells: Sequence[tuple[int, int]]) -> tuple[float, float]:
    """Beta(alpha, beta) fitted to (crashed, boots) cells by the method of moments.

    Falls back to a weak prior at the pooled rate where the cells show no
    spread beyond binomial noise.
    """
    cells = [(x, n) for x, n in cells if n > 0]
    if not cells:
        return (1.0, 1.0)
    crashed = np.array([x for x, _ in cells], dtype=float)
    boots = np.array([n for _, n in cells], dtype=float)
    mean = crashed.sum() / boots.sum()
    rates = crashed / boots
    variance = float(np.average((rates - mean) ** 2, weights=boots))
    noise = mean * (1 - mean) * float(np.mean(1 / boots))
    if mean <= 0 or mean >= 1:
        return (0.5, 0.5)
    spread = variance - noise
    # No spread beyond binomial noise: shrink hard towards the pooled rate.
    strength = float(boots.sum()) if spread <= 0 else max(mean * (1 - mean) / spread - 1, 1e-3)
    return (mean * strength, (1 - mean) * strength)


def trend_p(table: Sequence[tuple[int, int, int]]) -> float:
    """One-sided p of a rising crash rate over ordered groups (linear-by-linear
    association): ``table`` holds (score, crashed, boots) per group."""
    rows = [(score, x, n - x) for score, x, n in table if n > 0]
    if len(rows) < 2 or sum(r[1] for r in rows) == 0 or sum(r[2] for r in rows) == 0:
        return 1.0
    counts = np.array([[x, y] for _, x, y in rows], dtype=float)
    scores = np.array([s for s, _, _ in rows], dtype=float)
    result = Table(counts).test_ordinal_association(
        row_scores=scores, col_scores=np.array([1.0, 0.0])
    )
    z = float(result.zscore)
    return float(stats.norm.sf(z))
