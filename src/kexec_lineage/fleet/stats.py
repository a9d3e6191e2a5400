"""
Statistics
----------

The tests and estimates the analysis needs, on small count tables. SciPy and
statsmodels do the numerics; what they do not offer ready-made is written here
from their parts, each with the reason:

- :func:`stratified_exact_p`: the exact conditional test of a common rate
  ratio of 1 across strata (the exact counterpart of Cochran-Mantel-Haenszel
  for rates), one-sided. Given a stratum's crashes, the exposed group's share
  is binomial with its share of the exposure (boot-hours); the strata's
  distributions convolve. SciPy's exact tests take one table at a time.
- :func:`mantel_haenszel_rr`: the Mantel-Haenszel rate ratio (statsmodels
  pools odds ratios; the rate ratio is what a fleet operator reads as "N
  times more often").
- :func:`log_rate_ratio`: the log Mantel-Haenszel rate ratio with Greenland and
  Robins' variance, which statsmodels has for odds ratios only; it compares
  ratios of two groups of hosts.
- :func:`gamma_prior`: a gamma prior on crash rates fitted to many cells by
  the method of moments, for empirical-Bayes shrinkage of small cells.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import statsmodels.api as sm
from numpy.typing import NDArray
from scipy import optimize, special, stats

__all__ = (
    "AnyStrata",
    "RatioSums",
    "Strata",
    "Stratum",
    "benjamini_hochberg",
    "clopper_pearson",
    "depth_trend",
    "gamma_prior",
    "log_rate_ratio",
    "mantel_haenszel_rr",
    "ratio_sums",
    "stratified_exact_p",
)


@dataclass(frozen=True, slots=True)
class Stratum:
    """One stratum: crashed boots and exposure (boot-hours, or boots) of the
    exposed group and of the others."""

    crashed: int
    exposure: float
    other_crashed: int
    other_exposure: float

    @property
    def total(self) -> float:
        return self.exposure + self.other_exposure


class Strata(NamedTuple):
    """Many strata as arrays, a stratum per element: the analysis sums a release's
    strata thousands of times, which NumPy does at once."""

    crashed: NDArray[np.float64]
    exposure: NDArray[np.float64]
    other_crashed: NDArray[np.float64]
    other_exposure: NDArray[np.float64]

    @staticmethod
    def of(strata: Strata | Iterable[Stratum]) -> Strata:
        if isinstance(strata, Strata):
            return strata
        listed = list(strata)
        return Strata(
            *(
                np.array([getattr(s, name) for s in listed], dtype=np.float64)
                for name in ("crashed", "exposure", "other_crashed", "other_exposure")
            )
        )

    def comparing(self) -> NDArray[np.bool_]:
        """The strata with exposure on both sides: the only ones that compare."""
        return (self.exposure > 0) & (self.other_exposure > 0)


#: What the tests take: strata one by one, or as arrays.
AnyStrata = Strata | Sequence[Stratum]


def stratified_exact_p(strata: AnyStrata) -> float:
    """P(exposed crashes >= observed | each stratum's crashes), under no effect.

    One-sided: the question is whether the exposed boots crash *more*.

    Where more crashed than expected, the distributions are first tilted so that
    the observed count is their sum's mean (:func:`_tilt`): the tail sought is then
    the sum's bulk, whose mass a double holds to the last digit however far out the
    observed count lies, and what lies 1e-30 below a distribution's largest value
    can be cut, not 1e-300 of it; the p-value is that tail, taken back by the
    tilt's exact factor. A test of thousands of crashes convolves distributions a
    third as wide (a bell within 1e-30 of its peak, against within 1e-300:
    sqrt(ln 1e30 / ln 1e300) = 0.32 of the width).
    """
    s = Strata.of(strata)
    # Strata with no exposure on a side, or no crashes, carry no information.
    informative = s.comparing() & (s.crashed + s.other_crashed > 0)
    if not informative.any():
        return 1.0
    totals = (s.crashed + s.other_crashed)[informative].astype(np.int64)
    shares = s.exposure[informative] / (s.exposure + s.other_exposure)[informative]
    observed = int(s.crashed[informative].sum())
    if len(totals) == 1:
        return float(stats.binom.sf(observed - 1, totals[0], shares[0]))
    with np.errstate(divide="ignore"):  # a share of 0: its log is -inf, and meant so
        log_shares, log_others = np.log(shares), np.log1p(-shares)
    if observed >= totals.sum():
        # Every crash among the exposed: the far end, with no tail beyond it to tilt to.
        return math.exp(math.fsum((totals * log_shares).tolist()))
    logits = log_shares - log_others
    theta = _tilt(totals, shares, logits, observed)
    tilted = shares if theta == 0 else special.expit(logits + theta)
    distribution, low, trimmed = np.ones(1), 0, 1
    for pmf, first in _pmfs(totals, tilted):
        distribution = np.convolve(distribution, pmf)
        low += first
        if len(distribution) > 2 * trimmed:
            distribution, shift = _trimmed(distribution)
            low, trimmed = low + shift, len(distribution)
    start = max(observed - low, 0)
    tail = distribution[start:]
    if theta == 0:
        return min(1.0, max(float(tail.sum()), 0.0))
    # P(S = s) is the tilted P(S = s) times exp(K - theta s), with K the log of the
    # strata's moment generating functions at theta: sum n log(1 - p + p e^theta).
    past = np.arange(low + start, low + len(distribution)) - observed
    beyond = float((tail * np.exp(-theta * past)).sum())
    if beyond <= 0:
        return 0.0
    log_mgf = totals * np.logaddexp(log_others, log_shares + theta)
    log_p = math.fsum([*log_mgf.tolist(), -theta * observed]) + math.log(beyond)
    return min(1.0, math.exp(log_p))


def _tilt(
    totals: NDArray[np.int64],
    shares: NDArray[np.float64],
    logits: NDArray[np.float64],
    observed: int,
) -> float:
    """The exponential tilt that makes ``observed`` the mean of the strata's sum, 0
    where the observed count is no more than the untilted mean (``logits``: the
    shares' log odds). Any tilt gives the same p-value in exact arithmetic: this one
    puts the tail's mass where it is largest, so that it need not be found 1e-300
    below the bulk."""
    if observed <= float((totals * shares).sum()):
        return 0.0

    def excess(theta: float) -> float:
        return float((totals * special.expit(logits + theta)).sum()) - observed

    high = 1.0
    while excess(high) < 0:
        high *= 2
    return float(optimize.brentq(excess, 0.0, high, xtol=1e-6))


#: Values of binomial distributions computed at once (8 MiB): a culprit's test joins
#: hundreds of strata, and one of thousands of crashes among them would otherwise make
#: every row of the matrix as wide as its own.
_PMF_BLOCK = 1 << 20


def _pmfs(
    totals: NDArray[np.int64], shares: NDArray[np.float64]
) -> Iterator[tuple[NDArray[np.float64], int]]:
    """Each stratum's binomial distribution, in order, where it is not negligible, and
    the value it starts at. Strata go to SciPy a block at a time: a call per stratum
    costs SciPy's argument checks each time, most of an analysis' time."""
    lows, widths = _windows(totals, shares)
    start = 0
    while start < len(totals):
        end, width = start + 1, int(widths[start])
        while end < len(totals):
            wider = max(width, int(widths[end]))
            if (end - start + 1) * wider > _PMF_BLOCK:
                break
            end, width = end + 1, wider
        values = lows[start:end, None] + np.arange(width)
        pmfs = stats.binom.pmf(values, totals[start:end, None], shares[start:end, None])
        # With thousands of crashes in a stratum most of even the window is mass too
        # small to matter, which the convolutions would carry along: each distribution
        # is cut to where it is within _NEGLIGIBLE of its largest value.
        kept = pmfs >= pmfs.max(axis=1, keepdims=True) * _NEGLIGIBLE
        firsts = kept.argmax(axis=1).tolist()
        ends = (width - kept[:, ::-1].argmax(axis=1)).tolist()
        for pmf, low, first, last in zip(pmfs, lows[start:end].tolist(), firsts, ends, strict=True):
            yield pmf[first:last], low + first
        start = end


def _windows(
    totals: NDArray[np.int64], shares: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Where each binomial distribution may be within :data:`_NEGLIGIBLE` of its largest
    value: its first value and how many follow. Bernstein's inequality bounds the
    tails: P(|X - np| >= t) <= exp(-t^2 / (2 (np(1-p) + t/3))), and no value is below
    1/(n+1) of the largest, so past t with that bound under _NEGLIGIBLE/(n+1) lies
    nothing that matters."""
    bound = math.log(1 / _NEGLIGIBLE) + np.log1p(totals)
    variance = totals * shares * (1 - shares)
    reach = bound / 3 + np.sqrt(bound**2 / 9 + 2 * bound * variance)
    mean = totals * shares
    lows = np.clip(np.floor(mean - reach), 0, totals).astype(np.int64)
    highs = np.clip(np.ceil(mean + reach), 0, totals).astype(np.int64)
    return lows, highs - lows + 1


#: Mass below this share of a distribution's largest value is no mass: in a tilted
#: sum (see above) the tail sought is the bulk, which such mass cannot move by a digit.
_NEGLIGIBLE = 1e-30


def _trimmed(pmf: NDArray[np.float64]) -> tuple[NDArray[np.float64], int]:
    """``pmf`` without the ends below :data:`_NEGLIGIBLE` of its largest value, and the
    first value kept."""
    kept = np.flatnonzero(pmf >= pmf.max() * _NEGLIGIBLE)
    return pmf[kept[0] : kept[-1] + 1], int(kept[0])


def mantel_haenszel_rr(strata: AnyStrata) -> float:
    """The Mantel-Haenszel rate ratio of exposed to others (inf for none in others)."""
    s = Strata.of(strata)
    total = s.exposure + s.other_exposure
    some = total > 0
    numerator = float((s.crashed[some] * s.other_exposure[some] / total[some]).sum())
    denominator = float((s.other_crashed[some] * s.exposure[some] / total[some]).sum())
    if denominator == 0:
        return math.inf if numerator else 1.0
    return numerator / denominator


class RatioSums(NamedTuple):
    """The sums over strata that the log Mantel-Haenszel ratio and its variance are
    made of: strata add up, so that the ratio of all strata but some is a difference."""

    top: float
    bottom: float
    spread: float
    shared: float
    exposure: float
    other_exposure: float

    @staticmethod
    def of(parts: Iterable[RatioSums]) -> RatioSums:
        total = [0.0] * 6
        for part in parts:
            for k, value in enumerate(part):
                total[k] += value
        return RatioSums(*total)

    def without(self, part: RatioSums) -> RatioSums:
        return RatioSums(*(a - b for a, b in zip(self, part, strict=True)))


def ratio_sums(strata: AnyStrata) -> RatioSums:
    """The :class:`RatioSums` of the strata that compare (exposure on both sides)."""
    s = Strata.of(strata)
    comparing = s.comparing()
    x, e = s.crashed[comparing], s.exposure[comparing]
    y, f = s.other_crashed[comparing], s.other_exposure[comparing]
    total = e + f
    return RatioSums(
        float((x * f / total).sum()),
        float((y * e / total).sum()),
        float(((x + y) * e * f / total**2).sum()),
        float((e * f / total).sum()),
        float(e.sum()),
        float(f.sum()),
    )


def log_rate_ratio(strata: AnyStrata | RatioSums) -> tuple[float, float] | None:
    """The log Mantel-Haenszel rate ratio and its variance (Greenland & Robins 1985),
    from the strata that compare (or their sums); ``None`` where none does. Half a
    crashed boot stands in for none on either side, so that a group without
    crashes still bounds the ratio."""
    top, bottom, spread, shared, exposure, other_exposure = (
        strata if isinstance(strata, RatioSums) else ratio_sums(strata)
    )
    # (A difference of sums may leave rounding dust where nothing compares.)
    if exposure <= 1e-9 * (1 + other_exposure) or other_exposure <= 1e-9 * (1 + exposure):
        return None
    top = max(top, 0.5 * shared / exposure)
    bottom = max(bottom, 0.5 * shared / other_exposure)
    floor = 0.25 * shared / (exposure + other_exposure)
    return math.log(top / bottom), max(spread, floor) / (top * bottom)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
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


def gamma_prior(cells: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """Gamma(shape, rate) fitted to (crashed, exposure) cells by the method of moments.

    Where the cells show no spread beyond Poisson noise, a strong prior at
    the pooled rate: everything is then shrunk to it.
    """
    cells = [(x, e) for x, e in cells if e > 0]
    if not cells:
        return (1.0, 1.0)
    crashed = np.array([x for x, _ in cells], dtype=float)
    exposure = np.array([e for _, e in cells], dtype=float)
    mean = crashed.sum() / exposure.sum()
    if mean <= 0:
        return (0.5, 0.5 / max(float(exposure.mean()), 1e-12))
    rates = crashed / exposure
    variance = float(np.average((rates - mean) ** 2, weights=exposure))
    spread = variance - mean * float(np.mean(1 / exposure))
    shape = mean**2 / spread if spread > 0 else float(crashed.sum())
    return (shape, shape / mean)


def depth_trend(
    rows: Sequence[tuple[int, int, float, Sequence[str]]],
) -> tuple[float, float]:
    """The crash rate's ratio per kexec and its one-sided p, adjusted for covariates.

    ``rows`` hold (kexec count, crashed boots, boot-hours, covariate labels) per
    cell. A Poisson regression of crashes on the kexec count with the
    log boot-hours as offset and one indicator per covariate label (the
    predecessor and the host class), so that depth is not credited with what a
    predecessor or a platform does.
    """
    rows = [r for r in rows if r[2] > 0]
    if len({r[0] for r in rows}) < 2 or sum(r[1] for r in rows) == 0:
        return (1.0, 1.0)
    # One indicator per label, but for each kind of label ("pred:", "class:")
    # the first is the reference, lest the columns add up to the intercept.
    labels = sorted({label for r in rows for label in r[3]})
    kinds: dict[str, list[str]] = {}
    for label in labels:
        kinds.setdefault(label.partition(":")[0], []).append(label)
    kept = [label for group in kinds.values() for label in group[1:]]
    index = {label: i for i, label in enumerate(kept)}
    design = np.zeros((len(rows), 2 + len(index)))
    design[:, 0] = 1.0
    for i, (depth, _, _, covariates) in enumerate(rows):
        design[i, 1] = depth
        for label in covariates:
            if label in index:
                design[i, 2 + index[label]] = 1.0
    if len(rows) <= design.shape[1]:
        return (1.0, 1.0)  # no degrees of freedom left to judge a trend
    crashed = np.array([r[1] for r in rows], dtype=float)
    offset = np.log(np.array([r[2] for r in rows], dtype=float))
    try:
        with warnings.catch_warnings():
            # Sparse cells make statsmodels warn (perfect fits, rank); the
            # standard error below says what the fit is worth.
            warnings.simplefilter("ignore")
            fit = sm.GLM(crashed, design, family=sm.families.Poisson(), offset=offset).fit()
    except (ValueError, np.linalg.LinAlgError):
        return (1.0, 1.0)
    beta, se = float(fit.params[1]), float(fit.bse[1])
    if not math.isfinite(beta) or not math.isfinite(se) or se <= 0:
        return (1.0, 1.0)
    return (math.exp(beta), float(stats.norm.sf(beta / se)))
