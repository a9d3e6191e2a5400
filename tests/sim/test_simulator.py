"""The fleet simulator: deterministic, confounded like a real rollout, and telling the
same story in memory, in a real SQLite database and in console logs read back by the
real ``kexec-lineage ingest``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from kexec_lineage.cli.main import main
from kexec_lineage.fleet.count_queries import count_rows, fact_set_table, host_spread, title_rows
from kexec_lineage.fleet.count_table import CountRow, TitleRow, depth_bucket
from kexec_lineage.fleet.store import open_store
from kexec_lineage.logs.boots import split_boots
from kexec_lineage.logs.console import console_line, from_console
from kexec_lineage.logs.crash_report import parse_crashes
from kexec_lineage.model.release import release_key
from kexec_lineage.model.transition import COLD, UNKNOWN
from kexec_lineage.sim.console_logs import write_logs
from kexec_lineage.sim.crashes import BUGS, NOISE, PANIC_TITLE, report_lines
from kexec_lineage.sim.database import write_db
from kexec_lineage.sim.fleet import Fleet, simulate
from kexec_lineage.sim.scenario import CALENDAR, KINDS, PLATFORM_FACTS, PLATFORMS
from tests.collector import kexec_lineage

Transitions = Counter[tuple[str, str, str, int, str]]
Titles = Counter[tuple[str, str, str, str]]


@pytest.fixture(scope="module")
def small() -> Fleet:
    return simulate(150, 30, seed=4)


@pytest.fixture(scope="module")
def logs(small: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sim") / "logs"
    write_logs(small, directory)
    return directory


def arrays(fleet: Fleet) -> list[np.ndarray]:
    b, c = fleet.boots, fleet.crashes
    return [fleet.platform, fleet.region, fleet.canary, *vars(b).values(), *vars(c).values()]


def test_same_seed_same_fleet_other_seed_other_fleet() -> None:
    first, again, other = simulate(300, 20, 1), simulate(300, 20, 1), simulate(300, 20, 2)
    assert all(np.array_equal(a, b) for a, b in zip(arrays(first), arrays(again), strict=True))
    assert first.truth() == again.truth()
    assert first.boot_ids() == again.boot_ids()
    assert first.count_rows() == again.count_rows()
    assert first.count_rows() != other.count_rows()
    assert first.truth()["transition_bugs"] != other.truth()["transition_bugs"]


def test_faults_depend_on_the_seed_only() -> None:
    def faults(fleet: Fleet) -> list[dict[str, object]]:
        truth = fleet.truth()
        return [
            {k: v for k, v in bug.items() if k != "excess_crashes"}
            for bug in truth["transition_bugs"] + truth["depth_bugs"]
        ] + list(truth["class_effects"])

    assert faults(simulate(50, 5, 9)) == faults(simulate(400, 60, 9))


def test_first_upgrading_platform_is_over_represented_among_predecessors() -> None:
    fleet = simulate(3000, 60, seed=3)
    b = fleet.boots
    platform = fleet.platform[b.host]
    upgrade = (b.previous >= 0) & (b.previous != b.release)
    # A host that reboots often upgrades release by release; the others skip some.
    stepwise = upgrade & (b.previous == b.release - 1)
    share = float(np.mean(fleet.platform == 0))
    assert np.mean(platform[stepwise] == 0) > 1.15 * share
    assert np.mean(platform[upgrade & ~stepwise] == 0) < share
    # ... and it is the platform with the highest baseline: a confounder.
    factors = [c["factor"] for c in fleet.truth()["class_effects"]]
    assert factors[0] == max(factors)


def test_every_simulated_report_gets_its_title_from_the_parser() -> None:
    for signature in (*(s for s, _ in NOISE), *BUGS):
        lines = report_lines(signature, pid=4242, cpu=3, release="7.1.0", hardware="QEMU")
        log = b"".join(console_line(line.encode(), 10**8 + i) for i, line in enumerate(lines))
        titles = [crash.title for crash in parse_crashes(log)]
        assert titles == [signature.title, *([PANIC_TITLE] if signature.fatal else [])]


@pytest.mark.parametrize("kind", ["transition", "early", "flaky"])
def test_database_counts_equal_in_memory_counts(tmp_path: Path, kind: str) -> None:
    # The crashes' times since boot come back from the parsed reports: the early
    # crashed boots of the store are the simulator's own.
    fleet = simulate(300, 30, seed=5, kind=kind)
    store = open_store(str(tmp_path / "fleet.db"))
    write_db(fleet, store)
    rows = fleet.count_rows()
    assert count_rows(store) == rows
    assert title_rows(store) == fleet.title_rows()
    sets = fact_set_table(store)
    assert sets == fleet.fact_set_table()
    assert host_spread(store) == fleet.host_spread()
    assert {sets[r.facts]["dmi.system"] for r in rows} == {f["dmi.system"] for f in PLATFORM_FACTS}
    if kind == "early":
        assert sum(r.early_crashed_boots for r in rows) > 0
    assert sum(r.boots for r in rows) == len(fleet.boots)
    assert any(r.predecessor == UNKNOWN for r in rows)


def expected(fleet: Fleet, *, recorded: bool) -> tuple[Transitions, Titles]:
    """Boots, crashed boots and crashes per (release, predecessor, how, depth), and crashed
    boots per title, counted boot by boot; ``recorded``: lost predecessors are unknown."""
    b = fleet.boots
    boot, title, titles = fleet.crash_titles()
    crashes = Counter(boot.tolist())
    keys = []
    counts: Transitions = Counter()
    for i in range(len(b)):
        previous = int(b.previous[i])
        predecessor = (
            COLD
            if previous < 0
            else UNKNOWN
            if recorded and b.lost[i]
            else CALENDAR[previous].release
        )
        how = COLD if previous < 0 else "kexec"
        key = (CALENDAR[int(b.release[i])].release, predecessor, how)
        keys.append(key)
        depth = depth_bucket(int(b.kexec_count[i]))
        counts[(*key, depth, "boots")] += 1
        counts[(*key, depth, "crashed")] += crashes[i] > 0
        counts[(*key, depth, "crashes")] += crashes[i]
    crashed = Counter(
        (titles[t], *keys[i]) for i, t in set(zip(boot.tolist(), title.tolist(), strict=True))
    )
    return +counts, crashed


def collapsed(rows: list[CountRow], title_table: list[TitleRow]) -> tuple[Transitions, Titles]:
    """The count tables without host classes and hours, as :func:`expected` counts."""
    counts: Transitions = Counter()
    for r in rows:
        key = (r.release, r.predecessor, r.how, r.depth)
        counts[(*key, "boots")] += r.boots
        counts[(*key, "crashed")] += r.crashed_boots
        counts[(*key, "crashes")] += r.crashes
    titles = Counter(
        {(t.title, t.release, t.predecessor, t.how): t.crashed_boots for t in title_table}
    )
    return +counts, titles


def test_ingest_of_the_logs_gives_the_simulated_transitions(
    small: Fleet, logs: Path, tmp_path: Path
) -> None:
    db = tmp_path / "ingested.db"
    out = kexec_lineage("ingest", "--db", db, logs)
    assert out.startswith(f"ingested {small.hosts} files: {len(small.boots)} new boots")
    store = open_store(str(db))
    from_logs = collapsed(count_rows(store), title_rows(store))
    # Logs and records differ in one way only. A kexec outside our wrapper (kexec -l)
    # left no parameters and no KHO state, so the agent recorded no previous release
    # ("unknown"); a console log still shows the boot before it, so ingest knows it.
    truth, records = expected(small, recorded=False), expected(small, recorded=True)
    assert from_logs == truth
    assert collapsed(small.count_rows(), small.title_rows()) == records
    assert records != truth  # the fleet has such boots, so the difference was tested


def test_kho_v4_after_kho_v3_falls_back_and_our_count_carries_on(small: Fleet, logs: Path) -> None:
    b = small.boots
    first = np.searchsorted(b.host, np.arange(small.hosts + 1))
    crossings = accepted = 0
    for host in range(small.hosts):
        (log,) = from_console((logs / f"{small.host_name(host)}.log").read_bytes())
        booted = split_boots(log)
        assert len(booted) == first[host + 1] - first[host]
        for k in range(1, len(booted)):
            i = first[host] + k
            before, now = CALENDAR[b.release[i - 1]], CALENDAR[b.release[i]]
            if b.previous[i] < 0 or b.lost[i]:
                continue
            params, lines = booted[k].params, booted[k].kho_lines
            assert (params.prev, params.count) == (before.release, b.kexec_count[i])
            if (before.kho, now.kho) == ("kho-v3", "kho-v4"):
                crossings += b.kexec_count[i] > 1
                assert "disabling KHO revival" in lines
                assert booted[k].kho_exec_from is None
            elif before.kho == now.kho == "kho-v3":
                accepted += 1
                assert booted[k].kho_exec_from == before.release
    assert crossings and accepted  # chains that crossed the ABI change, and some that did not


def test_truth_names_the_injected_faults(small: Fleet) -> None:
    truth = json.loads(json.dumps(small.truth()))
    assert set(truth) == {
        "seed",
        "kind",
        "hosts",
        "days",
        "transition_bugs",
        "depth_bugs",
        "culprits",
        "flaky_hosts",
        "incident",
        "class_effects",
    }
    assert (truth["seed"], truth["hosts"], truth["days"]) == (4, 150, 30)
    releases = [r.release for r in CALENDAR]
    titles = {s.title for s in BUGS}
    assert 2 <= len(truth["transition_bugs"]) <= 4
    for bug in truth["transition_bugs"]:
        assert set(bug) == {
            "release",
            "predecessors",
            "first_bad_predecessor",
            "multiplier",
            "title",
            "only_on",
            "early",
            "excess_crashes",
        }
        assert (bug["only_on"], bug["early"]) == (None, False)
        where = [releases.index(p) for p in bug["predecessors"]]
        assert where == list(range(where[0], where[-1] + 1))  # a contiguous range
        assert bug["predecessors"] == sorted(bug["predecessors"], key=release_key)
        assert where[-1] < releases.index(bug["release"])
        assert bug["first_bad_predecessor"] == bug["predecessors"][0]
        assert 2 <= bug["multiplier"] <= 20
        assert bug["title"] in titles
        assert bug["excess_crashes"] >= 0
    assert 1 <= len(truth["depth_bugs"]) <= 2
    for bug in truth["depth_bugs"]:
        assert set(bug) == {"release", "multiplier", "title", "excess_crashes"}
        assert 1 < bug["multiplier"] < 2
    assert [c["platform"] for c in truth["class_effects"]] == list(PLATFORMS)
    assert (truth["kind"], truth["culprits"], truth["flaky_hosts"], truth["incident"]) == (
        "transition",
        [],
        [],
        None,
    )


def cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--hosts", "0", "a fleet needs at least 1 host, not 0"),
        ("--days", "0", "the window must be a positive number of days, not 0.0"),
        ("--days", "nan", "the window must be a positive number of days, not nan"),
        ("--seed", "-1", "the seed must be 0 or more, not -1"),
    ],
)
def test_bad_input_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    argv = {"--hosts": "10", "--days": "5", "--seed": "1"} | {option: value}
    status, out, err = cli(
        capsys,
        "simulate",
        *(a for pair in argv.items() for a in pair),
        "--logs",
        tmp_path / "logs",
        "--truth",
        tmp_path / "truth.json",
    )
    assert (status, out, err) == (2, "", f"kexec-lineage: error: {message}\n")
    assert not (tmp_path / "logs").exists()


def test_simulate_command_writes_the_database_and_the_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, truth = tmp_path / "fleet.db", tmp_path / "truth.json"
    argv = ("simulate", "--hosts", "40", "--days", "10", "--seed", "6", "--db", db)
    status, out, _ = cli(capsys, *argv, "--truth", truth)
    fleet = simulate(40, 10, 6)
    boot, _, _ = fleet.crash_titles()
    assert status == 0
    assert out == (
        f"simulated 40 hosts over 10 days (seed 6): {len(fleet.boots)} boots, "
        f"{len(set(boot.tolist()))} crashed, {len(boot)} crashes; "
        f"bugs: {len(fleet.scenario.transition_bugs)} transition, "
        f"{len(fleet.scenario.depth_bugs)} depth\n"
    )
    assert json.loads(truth.read_text()) == fleet.truth()
    assert count_rows(open_store(str(db))) == fleet.count_rows()
    status, _, err = cli(capsys, *argv, "--truth", tmp_path / "again.json")
    assert status == 2
    assert err == (
        f"kexec-lineage: error: the database holds host {fleet.host_name(0)} already: "
        "simulate into a new one\n"
    )


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "transition"])
def test_every_kind_of_fault_is_in_the_truth(kind: str) -> None:
    fleet = simulate(3000, 60, seed=5, kind=kind)
    truth = fleet.truth()
    plain = simulate(3000, 60, seed=5, kind="none")
    crashed = [len(set(f.crash_titles()[0].tolist())) for f in (fleet, plain)]
    assert truth["kind"] == kind
    assert not truth["depth_bugs"]
    bugs = truth["transition_bugs"]
    if kind == "fact":
        assert bugs and all(b["only_on"] is not None and not b["early"] for b in bugs)
        # The bug's crashes strike only hosts with its fact.
        for bug in bugs:
            fact, value = bug["only_on"]["fact"], bug["only_on"]["value"]
            hit = [fleet.signatures[i].title == bug["title"] for i in fleet.crashes.signature]
            hosts = set(fleet.boots.host[fleet.crashes.boot[np.array(hit, bool)]].tolist())
            assert all(fleet.host_facts(h)[fact] == value for h in hosts)
    elif kind == "early":
        assert bugs and all(b["early"] and b["only_on"] is None for b in bugs)
        uptimes = fleet.crash_uptimes()
        bug_titles = {b["title"] for b in bugs}
        signature = [fleet.signatures[i].title in bug_titles for i in fleet.crashes.signature]
        assert (uptimes[np.array(signature)] <= 15 * 60).all()
    elif kind == "culprit":
        assert truth["culprits"] and not bugs
    elif kind == "flaky":
        assert len(truth["flaky_hosts"]) == 5 and not bugs
    elif kind == "incident":
        assert truth["incident"]["multiplier"] >= 3 and not bugs
    else:
        assert (bugs, truth["culprits"], truth["flaky_hosts"], truth["incident"]) == (
            [],
            [],
            [],
            None,
        )
    if kind != "none":
        assert crashed[0] > crashed[1]


def test_the_command_offers_every_kind() -> None:
    from kexec_lineage.cli import simulate as command

    assert command.KINDS == KINDS
