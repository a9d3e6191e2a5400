"""The statistics on count tables built to a known truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kexec_lineage.fleet.analysis import Analysis, analyze
from kexec_lineage.fleet.count_table import CountRow, HostSpread, TitleRow
from kexec_lineage.fleet.stats import (
    RatioSums,
    Stratum,
    gamma_prior,
    log_rate_ratio,
    mantel_haenszel_rr,
    ratio_sums,
    stratified_exact_p,
)
from kexec_lineage.model.transition import COLD

PREDECESSORS = [f"7.1.{i}" for i in range(8)]
#: The day every boot of these fleets started on (2026-06-01).
DAY = 20_605


def fleet(
    bug: tuple[str, ...] = (),
    multiplier: float = 1.0,
    confound: bool = False,
    depth_slope: float = 1.0,
    seed: int = 1,
) -> tuple[list[CountRow], list[TitleRow]]:
    """Boots of 7.2.0 by predecessor and class, crashes drawn at known rates."""
    rng = np.random.default_rng(seed)
    rows, titles = [], []
    for platform, factor in (("alpha", 4.0 if confound else 1.0), ("beta", 1.0)):
        for pred in [COLD, *PREDECESSORS]:
            # With confounding, alpha upgraded first: it is most of 7.1.0's boots.
            boots = (
                3000
                if not confound
                else (5000 if (pred == "7.1.0") == (platform == "alpha") else 600)
            )
            for depth in (0, 1, 2, 3) if pred != COLD else (0,):
                how = "cold" if pred == COLD else "kexec"
                if how == "kexec" and depth == 0:
                    continue
                rate = 0.004 * factor * (multiplier if pred in bug else 1.0) * depth_slope**depth
                n = boots // 3
                crashed = int(rng.binomial(n, min(rate, 1.0)))
                rows.append(
                    CountRow(
                        "7.2.0", pred, how, depth, platform, DAY, n, n * 30.0, crashed, crashed
                    )
                )
                if crashed:
                    title = (
                        "KASAN: use-after-free Read in kho_restore"
                        if pred in bug
                        else "WARNING in dev_close"
                    )
                    titles.append(TitleRow(title, "7.2.0", pred, how, crashed))
    return rows, titles


#: The fact sets of the classes of :func:`fleet`, keyed by their names.
CLASSES = {p: {"dmi.system": p, "label.region": "eu"} for p in ("alpha", "beta")}


def run(rows: list[CountRow], titles: list[TitleRow]) -> Analysis:
    return analyze(rows, titles, fact_sets=CLASSES)


def test_exact_stratified_test_is_the_conditional_binomial_test() -> None:
    from scipy.stats import binomtest

    # Given 32 crashes, the exposed group's share is binomial with its share of hours.
    table = Stratum(12, 400.0, 20, 2000.0)
    p = binomtest(12, 32, 400 / 2400, alternative="greater").pvalue
    assert abs(stratified_exact_p([table]) - p) < 1e-9
    assert abs(mantel_haenszel_rr([table]) - (12 / 400) / (20 / 2000)) < 1e-9
    # Two strata with opposite mixes: pooled they look different, stratified they do not.
    mixed = [Stratum(40, 1000.0, 4, 100.0), Stratum(1, 100.0, 10, 1000.0)]
    assert abs(mantel_haenszel_rr(mixed) - 1.0) < 1e-9
    assert stratified_exact_p(mixed) > 0.3


def test_ratio_sums_of_some_strata_are_the_difference_of_sums() -> None:
    tables = [Stratum(3, 100.0, 9, 900.0), Stratum(0, 50.0, 2, 10.0), Stratum(7, 10.0, 1, 0.0)]
    tables.append(Stratum(4, 200.0, 20, 300.0))
    every, first = ratio_sums(tables), ratio_sums(tables[:2])
    assert RatioSums.of([first, ratio_sums(tables[2:])]) == pytest.approx(every)
    assert log_rate_ratio(every.without(first)) == pytest.approx(log_rate_ratio(tables[2:]))
    # The third compares nothing (no exposure on one side): the rest is the fourth alone.
    assert log_rate_ratio(tables[2:3]) is None
    assert log_rate_ratio(tables[2:]) == log_rate_ratio(tables[3:])


def test_transition_bug_found_and_bisected() -> None:
    counts, titles = fleet(bug=("7.1.3", "7.1.4", "7.1.5"), multiplier=8)
    result = run(counts, titles)
    (suspect,) = result.suspects
    assert suspect.release == "7.2.0"
    assert suspect.first_bad_predecessor == "7.1.3"
    assert suspect.predecessors == ("7.1.3", "7.1.4", "7.1.5")
    assert 5 < suspect.rate_ratio < 13
    assert suspect.q < 1e-6
    assert suspect.title == "KASAN: use-after-free Read in kho_restore"
    assert suspect.sentence.startswith(
        "7.2.0 crashes " + f"{suspect.rate_ratio:.3g}x more often after kexec from 7.1.3..7.1.5 "
    )
    assert suspect.sentence.endswith(f", q={suspect.q:.1g})")


def test_platform_that_upgraded_first_is_not_blamed() -> None:
    counts, titles = fleet(confound=True)
    result = run(counts, titles)
    assert result.suspects == ()
    # Ignoring the platforms would blame 7.1.0.
    crude = Stratum(
        sum(r.crashed_boots for r in counts if r.predecessor == "7.1.0"),
        sum(r.boots for r in counts if r.predecessor == "7.1.0"),
        sum(r.crashed_boots for r in counts if r.predecessor != "7.1.0"),
        sum(r.boots for r in counts if r.predecessor != "7.1.0"),
    )
    assert stratified_exact_p([crude]) < 1e-6


def test_no_bug_no_suspect_across_seeds() -> None:
    false = sum(len(run(*fleet(seed=s)).suspects) for s in range(20))
    assert false <= 1


def test_depth_trend() -> None:
    result = run(*fleet(depth_slope=2.0))
    (finding,) = result.depth
    assert finding.release == "7.2.0"
    assert finding.ratio_per_kexec > 1.5
    assert finding.q < 1e-6


def test_kexec_titles_are_tested_and_json() -> None:
    result = run(*fleet(bug=("7.1.3",), multiplier=10))
    # The bug's title is a kexec title; the everyday one, after kexec as after cold
    # boots, is not, though its kexec crashed boots outnumber its cold ones.
    assert [t.title for t in result.kexec_titles] == ["KASAN: use-after-free Read in kho_restore"]
    assert result.kexec_titles[0].after_cold == 0 and result.kexec_titles[0].q <= 0.05
    doc = result.as_dict()
    json.dumps(doc, allow_nan=False)
    assert {
        "release",
        "predecessors",
        "first_bad_predecessor",
        "rate_ratio",
        "q",
        "crashes",
        "boots",
        "title",
    } <= set(doc["suspects"][0])


def test_gamma_prior_centres_on_the_pooled_rate() -> None:
    shape, rate = gamma_prior([(1, 100.0), (2, 100.0), (1, 100.0), (30, 100.0)])
    assert abs(shape / rate - 34 / 400) < 1e-9


def culprit_fleet() -> list[CountRow]:
    """Three releases, each kexec'd into from 7.1.0 and 7.1.1; after 7.1.0 five times the
    crashes."""
    rows = []
    for release in ("7.2.0", "7.2.1", "7.2.2"):
        for predecessor, crashed in (("7.1.0", 250), ("7.1.1", 50)):
            rows.append(
                CountRow(
                    release,
                    predecessor,
                    "kexec",
                    1,
                    "alpha",
                    DAY,
                    5000,
                    5000 * 30.0,
                    crashed,
                    crashed,
                )
            )
    return rows


def test_a_culprit_is_named_once_and_only_from_crashes_of_several_hosts() -> None:
    rows = culprit_fleet()
    found = analyze(rows, [], fact_sets=CLASSES)
    assert [c.predecessor for c in found.culprits] == ["7.1.0"]
    assert found.culprits[0].successors == ("7.2.0", "7.2.1", "7.2.2")
    assert {s.explained_by for s in found.suspects} == {"7.1.0"}
    # The same counts, but each release's crashes after 7.1.0 from one host only.
    spread = {
        (r.release, r.predecessor): HostSpread(40, 1 if r.predecessor == "7.1.0" else 20)
        for r in rows
    }
    assert analyze(rows, [], spread, fact_sets=CLASSES).culprits == ()


def incident_fleet(days: tuple[int, int]) -> list[CountRow]:
    """7.2.0 after 7.1.0 booted mostly on the second day, after 7.1.1 mostly on the
    first; every boot crashes 1% of the time on the first day and 4% on the second (an
    incident), with cold boots of 7.3.0 on both days to show it fleet-wide."""
    plan = {
        ("7.2.0", "7.1.0"): (1000, 3000),
        ("7.2.0", "7.1.1"): (3000, 1000),
        ("7.3.0", COLD): (4000, 4000),
    }
    rows = []
    for (release, predecessor), boots in plan.items():
        how, depth = ("cold", 0) if predecessor == COLD else ("kexec", 1)
        for day, n, rate in zip(days, boots, (0.01, 0.04), strict=True):
            crashed = round(n * rate)
            rows.append(
                CountRow(release, predecessor, how, depth, "", day, n, n * 10.0, crashed, crashed)
            )
    return rows


def test_an_incident_of_some_days_is_not_blamed_on_what_booted_then() -> None:
    assert analyze(incident_fleet((DAY, DAY + 1)), []).suspects == ()
    # The same boots counted as of one day: the incident's crashes make a suspect.
    blamed = analyze(incident_fleet((DAY, DAY)), []).suspects
    assert [(s.release, s.predecessors) for s in blamed] == [("7.2.0", ("7.1.0",))]


#: Hosts with 5-level paging and without, of one class.
PAGING = {
    levels: {"dmi.system": "alpha", "label.region": "eu", "cpu.flag.la57": levels}
    for levels in ("0", "1")
}


def la57_fleet() -> list[CountRow]:
    """Four releases after four predecessors each, 1% of boots crashing; 7.2.0 after
    7.1.2 crashes 6% on hosts with LA57, and 7.1.2 supplied nearly all those hosts'
    boots of 7.2.0 (their other predecessors 40 boots each)."""
    rows = []
    for release in ("7.2.0", "7.2.1", "7.2.2", "7.2.3"):
        for predecessor in PREDECESSORS[:4]:
            for levels, usual in (("0", 3000), ("1", 300)):
                boots, rate = usual, 0.01
                if release == "7.2.0" and levels == "1":
                    boots, rate = (1500, 0.06) if predecessor == "7.1.2" else (40, rate)
                crashed = round(boots * rate)
                rows.append(
                    CountRow(
                        release,
                        predecessor,
                        "kexec",
                        1,
                        levels,
                        DAY,
                        boots,
                        boots * 10.0,
                        crashed,
                        crashed,
                    )
                )
    return rows


def test_a_bug_only_on_some_hosts_is_found_where_it_supplied_their_boots() -> None:
    # Among the LA57 hosts 7.1.2 can hardly be compared with 7.2.0's other predecessors;
    # the hosts of 7.1.2 can be with each other, against LA57 hosts everywhere else.
    (suspect,) = analyze(la57_fleet(), [], fact_sets=PAGING).suspects
    assert (suspect.release, suspect.predecessors) == ("7.2.0", ("7.1.2",))
    (where,) = suspect.only_on
    assert (where.fact, where.value) == ("cpu.flag.la57", "1")
    assert where.q <= 0.05
    assert where.rate_ratio > 2 * where.outside_rate_ratio
