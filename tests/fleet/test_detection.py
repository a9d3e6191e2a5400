"""Acceptance: the analysis against the ground truth of 20 simulated fleets."""

from __future__ import annotations

from pathlib import Path

from kexec_lineage.fleet.analysis import analyze
from kexec_lineage.fleet.count_queries import count_rows, host_spread, title_rows
from kexec_lineage.fleet.store import open_store
from kexec_lineage.sim.database import write_db
from kexec_lineage.sim.fleet import simulate
from tests.fleet.detection import Score, score

SIZES = (5_000, 8_000, 12_000, 20_000, 30_000, 50_000)
SEEDS = range(1, 21)


def test_twenty_fleets() -> None:
    total = Score(missed=[], false=[])
    heads = ("seed", "hosts", "bugs", "found", "exact", "suspects", "false", "naive")
    lines = [" ".join(f"{h:>8}" for h in heads)]
    for seed in SEEDS:
        hosts = SIZES[seed % len(SIZES)]
        fleet = simulate(hosts, 60, seed)
        counts = fleet.count_rows()
        one = score(analyze(counts, fleet.title_rows()), fleet.truth(), counts, f"seed {seed}")
        total.add(one)
        figures = [seed, hosts, one.detectable, one.found, one.exact_first, one.suspects]
        figures += [one.false_suspects, one.naive_found]
        lines.append(" ".join(f"{f:>8}" for f in figures))
    recall = total.found / total.detectable
    false_share = total.false_suspects / max(1, total.suspects)
    exact = total.exact_first / max(1, total.found)
    summary = (
        f"detectable transition bugs (x>=3, >=20 excess crashed boots): {total.detectable}; "
        f"found at q<=0.05: {total.found} ({recall:.0%}); bisection exact: {total.exact_first} "
        f"({exact:.0%}); suspects: {total.suspects}, false: {total.false_suspects} "
        f"({false_share:.1%}); naive per-release view finds {total.naive_found}"
    )
    print("\n" + "\n".join(lines) + "\n" + summary)
    print("missed:", *(total.missed or ["none"]), sep="\n  ")
    print("false:", *(total.false or ["none"]), sep="\n  ")
    assert total.detectable >= 30, summary
    assert recall >= 0.95, summary
    assert false_share <= 0.05, summary
    assert exact >= 0.90, summary
    assert total.naive_found < total.found, summary


def test_the_host_gate_changes_no_finding_of_a_real_fleet(tmp_path: Path) -> None:
    # The collector's analysis asks crashes of several hosts (issue 12): on simulated
    # fleets, where no host is hostile, it names the same suspects as the plain one.
    for seed in (2, 3, 4):
        fleet = simulate(5000, 60, seed)
        store = open_store(str(tmp_path / f"{seed}.db"))
        write_db(fleet, store)
        counts, titles = count_rows(store), title_rows(store)
        plain = analyze(counts, titles)
        gated = analyze(counts, titles, host_spread(store))
        store.dispose()
        # (Their order may differ: the prior of the shrunk ratios is fitted to the
        # transitions counted, and the gate leaves out those of fewer than 3 hosts.)
        named = [sorted((s.release, s.predecessors) for s in a.suspects) for a in (plain, gated)]
        assert named[0] == named[1], seed
        found = [score(a, fleet.truth(), counts) for a in (plain, gated)]
        assert [(f.found, f.exact_first, f.false_suspects) for f in found] == [
            (found[0].found, found[0].exact_first, found[0].false_suspects)
        ] * 2, seed
