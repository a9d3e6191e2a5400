"""
Simulated fleet
---------------

:func:`simulate` runs a :class:`~kexec_lineage.sim.scenario.Scenario` on a
fleet of hosts: each boots cold on the first day, then reboots at random
times, each reboot a kexec or a cold boot, onto the newest release its class
has been offered. Crashes arrive as a Poisson process per boot whose rate is
the release's baseline times the platform's factor times the multipliers of
the bugs the boot meets (its predecessor in a transition bug's range, its
kexec count for a depth bug); a fatal crash ends the boot in a panic and the
next boot is cold.

All hosts advance one boot per step, as numpy arrays, so a 50,000-host fleet
takes seconds. :meth:`Fleet.count_rows` and :meth:`Fleet.title_rows` reduce
it to the count tables of :mod:`kexec_lineage.fleet.count_table` by the same
rules as the SQL of :mod:`kexec_lineage.fleet.count_queries`, without a
database. Uptimes are whole multiples of 1/64 hour, so sums of them are exact
in any order and in any engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kexec_lineage.errors import InputError
from kexec_lineage.fleet.count_table import (
    EARLY_SECONDS,
    CountRow,
    HostSpread,
    TitleRow,
    depth_bucket,
)
from kexec_lineage.model.transition import COLD, UNKNOWN
from kexec_lineage.model.wire import facts_digest
from kexec_lineage.sim.crashes import BUGS, NOISE, PANIC_TITLE, Signature, report_length
from kexec_lineage.sim.scenario import (
    BIOS_SHARE,
    CALENDAR,
    CANARY_SHARE,
    EARLY_HOURS,
    EARLY_MEAN_HOURS,
    FLAKY_CRASH,
    KEXEC_SHARE,
    LA57_SHARE,
    LOST_SHARE,
    PLATFORM_FACTS,
    PLATFORM_LAG,
    PLATFORMS,
    REBOOT_DAYS,
    REGION_LAG,
    REGIONS,
    TPM_SHARE,
    Scenario,
    scenario,
)

__all__ = (
    "ENDINGS",
    "EPOCH",
    "LINE_USEC",
    "USEC",
    "Boots",
    "Crashes",
    "Fleet",
    "report_start",
    "simulate",
)

#: How a boot ends: still up when the window closes, kexec, reboot, panic.
ENDINGS = ("running", "kexec", "reboot", "panic")
_RUNNING, _KEXEC, _REBOOT, _PANIC = range(4)
#: Wall-clock time (2026-06-01 00:00 UTC) at which the simulated window opens.
EPOCH = 1_780_272_000.0
_QUANTUM = 64  # uptimes are whole multiples of 1/64 hour
REBOOT_HOURS = np.array(REBOOT_DAYS) * 24
USEC = 3_600_000_000  # microseconds per hour
LINE_USEC = 100  # between the lines of one report
_KEXEC_GAP, _REBOOT_GAP = 30 / 3600, 0.1  # hours between one boot's end and the next start

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]


def report_start(at: Any, end: Any, fatal: Any, lines: Any) -> Any:
    """Microseconds into its boot at which a crash report of ``lines`` lines begins, for
    a crash at ``at`` hours of a boot whose last line is at ``end`` microseconds: a
    fatal report ends the boot, the others sit after the boot messages and before the
    shutdown messages. Scalars or numpy arrays alike."""
    length = lines * LINE_USEC
    survived = np.minimum(np.maximum(np.round(at * USEC), 10_000_000), end - 2_000_000 - length)
    return np.where(fatal, end - length + LINE_USEC, survived)


@dataclass(frozen=True, eq=False)
class Boots:
    """Every boot, ordered by host and then start; releases are :data:`CALENDAR` indices."""

    host: Ints
    release: Ints
    #: the release kexec'd from, -1 after a cold boot (the truth, also where ``lost``)
    previous: Ints
    #: a kexec whose record lost its previous release
    lost: Bools
    kexec_count: Ints
    #: hours since the window opened
    start: Floats
    hours: Floats
    #: index into :data:`ENDINGS`
    ending: Ints

    def __len__(self) -> int:
        return len(self.host)


@dataclass(frozen=True, eq=False)
class Crashes:
    """Every injected crash report, ordered by boot and time; a fatal one ends its boot."""

    boot: Ints
    #: index into :attr:`Fleet.signatures`
    signature: Ints
    #: hours after its boot started
    at: Floats

    def __len__(self) -> int:
        return len(self.boot)


@dataclass(frozen=True, eq=False)
class Fleet:
    """A simulated fleet: hosts, their boots and crashes, and what caused them.

    ``platform``, ``region`` (indices into :data:`PLATFORMS`, :data:`REGIONS`),
    ``canary`` and ``fact_set`` (an index into ``fact_sets``, the facts its agent
    reports) are per host. Platform and region drive rollouts and crash rates; an
    analysis sees only the facts.
    """

    scenario: Scenario
    days: float
    platform: Ints
    region: Ints
    canary: Bools
    fact_sets: tuple[dict[str, str], ...]
    fact_set: Ints
    flaky: Bools
    boots: Boots
    crashes: Crashes
    signatures: tuple[Signature, ...]
    #: expected crashed boots each transition bug, then each depth bug, added
    excess: tuple[float, ...]

    @property
    def hosts(self) -> int:
        return len(self.platform)

    def host_name(self, host: int) -> str:
        """``<region>-<platform>-<number>``: the name its logs and records carry."""
        width = max(5, len(str(self.hosts - 1)))
        return f"{REGIONS[self.region[host]]}-{PLATFORMS[self.platform[host]]}-{host:0{width}d}"

    def boot_ids(self) -> list[str]:
        """Each boot's ``/proc/sys/kernel/random/boot_id``, a random UUID fixed by the seed."""
        words = np.random.default_rng([self.scenario.seed, 2]).integers(
            0, 1 << 62, size=(len(self.boots), 2), dtype=np.int64
        )
        return [
            f"{a >> 30:08x}-{(a >> 14) & 0xFFFF:04x}-4{(a >> 2) & 0xFFF:03x}-"
            f"{0x8000 | (b >> 48) & 0x3FFF:04x}-{b & 0xFFFF_FFFF_FFFF:012x}"
            for a, b in words.tolist()
        ]

    def crash_titles(self) -> tuple[Ints, Ints, tuple[str, ...]]:
        """Every crash a parser finds, a fatal report's panic included: each one's boot
        and title (an index into the returned titles)."""
        titles = (*(s.title for s in self.signatures), PANIC_TITLE)
        fatal = np.array([s.fatal for s in self.signatures])[self.crashes.signature]
        boot = np.concatenate([self.crashes.boot, self.crashes.boot[fatal]])
        title = np.concatenate(
            [self.crashes.signature, np.full(int(fatal.sum()), len(titles) - 1, np.int64)]
        )
        return boot, title, titles

    def _predecessor(self) -> Ints:
        """Each boot's predecessor as recorded: a release, or ``len(CALENDAR)`` for
        cold, ``+ 1`` for unknown."""
        boots = self.boots
        cold = boots.previous < 0
        return np.where(
            cold, len(CALENDAR), np.where(boots.lost, len(CALENDAR) + 1, boots.previous)
        )

    def host_facts(self, host: int) -> dict[str, str]:
        """What the agent of ``host`` reports with each of its boots."""
        return self.fact_sets[int(self.fact_set[host])]

    def fact_set_table(self) -> dict[str, dict[str, str]]:
        """:func:`kexec_lineage.fleet.count_queries.fact_set_table` of this fleet."""
        return {facts_digest(f): f for f in self.fact_sets}

    def crash_uptimes(self) -> Floats:
        """Seconds since boot at which each crash report begins, as its log shows it."""
        c = self.crashes
        lines = np.array([report_length(s) for s in self.signatures])[c.signature]
        fatal = np.array([s.fatal for s in self.signatures])[c.signature]
        end = np.round(self.boots.hours[c.boot] * USEC)
        return np.asarray(report_start(c.at, end, fatal, lines), dtype=np.float64) / 1e6

    def count_rows(self, early_seconds: float = EARLY_SECONDS) -> list[CountRow]:
        """:func:`kexec_lineage.fleet.count_queries.count_rows` of this fleet's records."""
        boots, n = self.boots, len(CALENDAR)
        buckets = np.array([depth_bucket(k) for k in range(int(boots.kexec_count.max()) + 1)])
        # The day as fleet.count_queries computes it from the started_at stored.
        day = np.floor((EPOCH + boots.start * 3600) / 86400).astype(np.int64)
        first_day = int(day.min())
        day -= first_day
        shape = (n, n + 2, int(buckets.max()) + 1, len(self.fact_sets), int(day.max()) + 1)
        key = np.ravel_multi_index(
            (
                boots.release,
                self._predecessor(),
                buckets[boots.kexec_count],
                self.fact_set[boots.host],
                day,
            ),
            shape,
        )
        cells, cell = np.unique(key, return_inverse=True)
        crashes = np.bincount(self.crash_titles()[0], minlength=len(boots))
        first = np.full(len(boots), np.inf)
        np.minimum.at(first, self.crashes.boot, self.crash_uptimes())
        columns = (
            np.bincount(cell),
            # Whole seconds, as fleet.count_queries sums them in the database.
            np.bincount(cell, weights=np.floor(boots.hours * 3600)),
            np.bincount(cell, weights=(crashes > 0).astype(float)),
            np.bincount(cell, weights=crashes),
            np.bincount(cell, weights=(first <= early_seconds).astype(float)),
        )
        names = self._names()
        digests = [facts_digest(f) for f in self.fact_sets]
        return sorted(
            CountRow(
                CALENDAR[release].release,
                names[predecessor],
                COLD if predecessor == n else "kexec",
                int(depth),
                digests[fact_set],
                first_day + int(day_index),
                int(count),
                int(hours) / 3600,
                int(crashed),
                int(total),
                int(early),
            )
            for (
                release,
                predecessor,
                depth,
                fact_set,
                day_index,
                count,
                hours,
                crashed,
                total,
                early,
            ) in zip(*np.unravel_index(cells, shape), *columns, strict=True)
        )

    def host_spread(self) -> dict[tuple[str, str], HostSpread]:
        """:func:`kexec_lineage.fleet.count_queries.host_spread` of this fleet's records."""
        n, names = len(CALENDAR), self._names()
        transition = self.boots.release * (n + 2) + self._predecessor()
        crashed = np.zeros(len(self.boots), bool)
        crashed[self.crash_titles()[0]] = True
        out = {}
        for key in np.unique(transition).tolist():
            mine = transition == key
            hosts = np.unique(self.boots.host[mine])
            sick = np.unique(self.boots.host[mine & crashed])
            release, predecessor = divmod(key, n + 2)
            out[(CALENDAR[release].release, names[predecessor])] = HostSpread(len(hosts), len(sick))
        return out

    def title_rows(self) -> list[TitleRow]:
        """:func:`kexec_lineage.fleet.count_queries.title_rows` of this fleet's records."""
        boot, title, titles = self.crash_titles()
        n = len(CALENDAR)
        shape = (len(titles), n, n + 2)
        pairs = np.unique(np.stack([boot, title]), axis=1)  # a boot counts once per title
        key = np.ravel_multi_index(
            (pairs[1], self.boots.release[pairs[0]], self._predecessor()[pairs[0]]), shape
        )
        cells, counts = np.unique(key, return_counts=True)
        names = self._names()
        return sorted(
            TitleRow(
                titles[t],
                CALENDAR[release].release,
                names[predecessor],
                COLD if predecessor == n else "kexec",
                int(count),
            )
            for t, release, predecessor, count in zip(
                *np.unravel_index(cells, shape), counts, strict=True
            )
        )

    @staticmethod
    def _names() -> tuple[str, ...]:
        return (*(r.release for r in CALENDAR), COLD, UNKNOWN)

    def truth(self) -> dict[str, Any]:
        """The injected faults, as JSON: what an analysis of this fleet should find."""
        plan = self.scenario
        excess = iter(self.excess)
        return {
            "seed": plan.seed,
            "kind": plan.kind,
            "hosts": self.hosts,
            "days": self.days,
            "transition_bugs": [
                {
                    "release": bug.release,
                    "predecessors": list(bug.predecessors),
                    "first_bad_predecessor": bug.predecessors[0],
                    "multiplier": bug.multiplier,
                    "title": bug.signature.title,
                    "only_on": None
                    if bug.only_on is None
                    else {"fact": bug.only_on[0], "value": bug.only_on[1]},
                    "early": bug.early,
                    "excess_crashes": round(next(excess), 1),
                }
                for bug in plan.transition_bugs
            ],
            "depth_bugs": [
                {
                    "release": bug.release,
                    "multiplier": bug.multiplier,
                    "title": bug.signature.title,
                    "excess_crashes": round(next(excess), 1),
                }
                for bug in plan.depth_bugs
            ],
            "culprits": [
                {
                    "predecessor": c.predecessor,
                    "multiplier": c.multiplier,
                    "title": c.signature.title,
                    "excess_crashes": round(next(excess), 1),
                }
                for c in plan.culprits
            ],
            "flaky_hosts": [self.host_name(h) for h in np.flatnonzero(self.flaky).tolist()],
            "incident": None
            if plan.incident is None
            else {
                "start_day": round(plan.incident.start * self.days, 2),
                "days": round(plan.incident.days, 2),
                "multiplier": plan.incident.multiplier,
            },
            "class_effects": [
                {"platform": platform, "factor": factor}
                for platform, factor in zip(PLATFORMS, plan.platform_factors, strict=True)
            ],
        }


@dataclass(frozen=True, eq=False)
class _Faults:
    """The scenario as lookup tables indexed by [predecessor or cold, release]; bugs are
    numbered transition bugs first, then depth bugs, then culprits."""

    rates: Floats
    transition_multiplier: Floats
    transition_bug: Ints
    depth_multiplier: Floats
    depth_bug: Ints
    #: per bug: its index into the fleet's signatures, and fatality (with a last 0
    #: for "no bug", -1)
    signature: Ints
    fatal: Floats
    #: per bug and host: whether the bug can strike there (its ``only_on`` fact)
    strikes: Bools
    #: probability of an early crash, and its bug
    early_chance: Floats
    early_bug: Ints


def _faults(
    plan: Scenario,
    signatures: tuple[Signature, ...],
    facts: Sequence[Mapping[str, str]],
) -> _Faults:
    n = len(CALENDAR)
    index = {r.release: i for i, r in enumerate(CALENDAR)}
    multiplier = np.ones((n + 1, n))
    bug = np.full((n + 1, n), -1)
    early_chance, early_bug = np.zeros((n + 1, n)), np.full((n + 1, n), -1)
    bugs = len(plan.transition_bugs) + len(plan.depth_bugs) + len(plan.culprits)
    strikes = np.ones((bugs, len(facts)), bool)
    for number, tbug in enumerate(plan.transition_bugs):
        rows = [index[p] for p in tbug.predecessors]
        if tbug.early:
            early_chance[rows, index[tbug.release]] = tbug.multiplier / 100
            early_bug[rows, index[tbug.release]] = number
            continue
        multiplier[rows, index[tbug.release]] = tbug.multiplier
        bug[rows, index[tbug.release]] = number
        if tbug.only_on is not None:
            fact, value = tbug.only_on
            strikes[number] = [f.get(fact) == value for f in facts]
    depth_multiplier, depth_bug = np.ones(n), np.full(n, -1)
    for number, dbug in enumerate(plan.depth_bugs, len(plan.transition_bugs)):
        depth_multiplier[index[dbug.release]] = dbug.multiplier
        depth_bug[index[dbug.release]] = number
    for number, culprit in enumerate(
        plan.culprits, len(plan.transition_bugs) + len(plan.depth_bugs)
    ):
        multiplier[index[culprit.predecessor], :] = culprit.multiplier
        bug[index[culprit.predecessor], :] = number
    chosen = [
        *(b.signature for b in plan.transition_bugs),
        *(b.signature for b in plan.depth_bugs),
        *(b.signature for b in plan.culprits),
    ]
    return _Faults(
        np.array(plan.rates),
        multiplier,
        bug,
        depth_multiplier,
        depth_bug,
        np.array([signatures.index(s) for s in chosen], dtype=np.int64),
        np.array([*(float(s.fatal) for s in chosen), 0.0]),
        strikes,
        early_chance,
        early_bug,
    )


def _offers(days: float) -> Floats:
    """Hour at which each class (platform, region, canary) is offered each release."""
    window = days * 24
    offers = np.full((len(PLATFORMS), len(REGIONS), 2, len(CALENDAR)), np.inf)
    for r, rollout in enumerate(CALENDAR):
        offers[:, :, 1, r] = rollout.at * window
        if not rollout.canary:
            lag = np.add.outer(PLATFORM_LAG, REGION_LAG) * window * (rollout.at > 0)
            offers[:, :, 0, r] = rollout.at * window + lag
    return offers.reshape(-1, len(CALENDAR))


class _Noise:
    """Noise signatures, drawn apart for fatal and survivable crashes."""

    def __init__(self) -> None:
        weights = np.array([w for _, w in NOISE])
        fatal = np.array([s.fatal for s, _ in NOISE])
        self.fatal_share = float(weights[fatal].sum() / weights.sum())
        self.groups = {
            kind: (
                np.flatnonzero(fatal == kind),
                weights[fatal == kind] / weights[fatal == kind].sum(),
            )
            for kind in (False, True)
        }

    def draw(self, rng: np.random.Generator, fatal: bool, size: int) -> Ints:
        choices, p = self.groups[fatal]
        return rng.choice(choices, size=size, p=p)


@dataclass(frozen=True, eq=False)
class _Rates:
    """Crashes per hour of one boot of each host, by cause: noise, the transition bug,
    the depth bug (rows 0, 1, 2); ``bug`` names the bug of causes 1 and 2 (-1: none)."""

    rates: Floats
    fatal: Floats
    bug: Ints

    @classmethod
    def of(
        cls,
        faults: _Faults,
        noise: _Noise,
        *,
        base: Floats,
        row: Ints,
        release: Ints,
        count: Ints,
        host: Ints,
    ) -> _Rates:
        """The rates of boots of ``host`` of ``release`` after ``row`` (a predecessor, or
        ``len(CALENDAR)`` for cold) at kexec count ``count``, ``base`` being noise."""
        transition = faults.transition_bug[row, release]
        strikes = np.ones(len(host), bool)
        if len(faults.strikes):
            strikes = (transition < 0) | faults.strikes[np.maximum(transition, 0), host]
        transition = np.where(strikes, transition, -1)
        multiplier = np.where(strikes, faults.transition_multiplier[row, release], 1.0)
        depth = faults.depth_multiplier[release] ** count
        rates = np.stack([base, base * (multiplier - 1), base * multiplier * (depth - 1)])
        bug = np.stack([transition, faults.depth_bug[release]])
        share = np.stack([np.full(len(base), noise.fatal_share), *faults.fatal[bug]])
        return cls(rates, rates * share, bug)

    def excess(self, span: Floats, bugs: int) -> Floats:
        """Expected crashed boots each bug adds: P(crash) with it minus without it."""
        total = self.rates.sum(axis=0)
        out = np.zeros(bugs)
        for cause in (1, 2):
            hit = self.bug[cause - 1] >= 0
            extra = np.exp(-(total - self.rates[cause]) * span) - np.exp(-total * span)
            out += np.bincount(self.bug[cause - 1][hit], extra[hit], minlength=bugs)
        return out

    def draw(
        self,
        rng: np.random.Generator,
        noise: _Noise,
        faults: _Faults,
        hours: Floats,
        fatal: Bools,
    ) -> tuple[Ints, Ints, Floats]:
        """Survivable crashes at random times, then the fatal ones at the end of their
        boots: each one's boot, signature and time."""
        survivable = self.rates - self.fatal
        survived = rng.poisson(survivable.sum(axis=0) * hours)
        boot = np.repeat(np.arange(len(hours)), survived)
        crash_boot = np.concatenate([boot, np.flatnonzero(fatal)])
        at = np.concatenate([rng.random(len(boot)) * hours[boot], hours[fatal]])
        weights = np.concatenate([survivable[:, boot], self.fatal[:, fatal]], axis=1).cumsum(0)
        cause = (rng.random(len(crash_boot)) * weights[-1] >= weights[:-1]).sum(axis=0)
        is_fatal = np.arange(len(crash_boot)) >= len(boot)
        signature = np.zeros(len(crash_boot), np.int64)
        for kind in (False, True):
            pick = (cause == 0) & (is_fatal == kind)
            signature[pick] = noise.draw(rng, kind, int(pick.sum()))
        for bug in (1, 2):
            pick = cause == bug
            signature[pick] = faults.signature[self.bug[bug - 1][crash_boot[pick]]]
        return crash_boot, signature, at


@dataclass(frozen=True, eq=False)
class _Extras:
    """The survivable crashes that come besides the rates: early-boot bugs, flaky
    hosts, an incident (its start, end in hours and multiplier); drawn from their own
    random stream, so that a fleet without them is the fleet of before."""

    rng: np.random.Generator
    flaky: Bools
    incident: tuple[float, float, float] | None

    @classmethod
    def of(cls, plan: Scenario, hosts: int, days: float) -> _Extras | None:
        if plan.kind == "transition":
            return None
        rng = np.random.default_rng([plan.seed, 5])
        flaky = np.zeros(hosts, bool)
        if plan.flaky_share:
            many = min(hosts, max(5, round(plan.flaky_share * hosts)))
            flaky[rng.choice(hosts, many, replace=False)] = True
        if plan.incident is None:
            return cls(rng, flaky, None)
        begin = plan.incident.start * days * 24
        return cls(rng, flaky, (begin, begin + plan.incident.days * 24, plan.incident.multiplier))

    def draw(
        self,
        noise: _Noise,
        faults: _Faults,
        boots: tuple[Ints, Ints, Ints, Floats, Floats, Floats],
    ) -> tuple[tuple[Ints, Ints, Floats], Floats]:
        """``boots`` are each one's host, predecessor row, release, start, hours and noise
        rate. Returns each crash's boot, signature and time, and the expected crashed
        boots each early bug adds."""
        rng = self.rng
        host, row, release, start, hours, base = boots
        n = len(host)
        picked: list[tuple[Ints, Ints, Floats]] = []
        chance, bug = faults.early_chance[row, release], faults.early_bug[row, release]
        at = rng.exponential(EARLY_MEAN_HOURS, n)
        window = np.minimum(EARLY_HOURS, hours)
        hit = (rng.random(n) < chance) & (at < window)
        reach = chance * (1 - np.exp(-window / EARLY_MEAN_HOURS)) * np.exp(-base * hours)
        excess = np.bincount(bug[bug >= 0], reach[bug >= 0], minlength=len(faults.signature))
        picked.append((np.flatnonzero(hit), faults.signature[bug[hit]], at[hit]))
        shaky = self.flaky[host] & (rng.random(n) < FLAKY_CRASH)
        many = int(shaky.sum())
        picked.append(
            (np.flatnonzero(shaky), noise.draw(rng, False, many), rng.random(many) * hours[shaky])
        )
        if self.incident is not None:
            begin, end, multiplier = self.incident
            since = np.maximum(start, begin)
            overlap = np.clip(np.minimum(start + hours, end) - since, 0, None)
            boot = np.repeat(np.arange(n), rng.poisson(base * (multiplier - 1) * overlap))
            when = since[boot] - start[boot] + rng.random(len(boot)) * overlap[boot]
            picked.append((boot, noise.draw(rng, False, len(boot)), when))
        boot, signature, when = (np.concatenate(c) for c in zip(*picked, strict=True))
        added = (boot.astype(np.int64), signature.astype(np.int64), when.astype(np.float64))
        return added, excess.astype(np.float64)


def _checked(hosts: int, days: float) -> None:
    if hosts < 1:
        raise InputError(f"a fleet needs at least 1 host, not {hosts}")
    if not (math.isfinite(days) and days > 0):
        raise InputError(f"the window must be a positive number of days, not {days}")


def simulate(hosts: int, days: float, seed: int, kind: str = "transition") -> Fleet:
    """A fleet of ``hosts`` hosts over ``days`` days with faults of ``kind`` (one of
    :data:`~kexec_lineage.sim.scenario.KINDS`); the same arguments give the same fleet.

    :raises InputError: no hosts, a window that is not a positive number of
        days, a negative seed or an unknown kind.
    """
    _checked(hosts, days)
    plan = scenario(seed, kind)
    signatures = (*(s for s, _ in NOISE), *BUGS)
    rng = np.random.default_rng([seed, 1])
    platform, region, canary = (
        rng.integers(0, len(PLATFORMS), hosts),
        rng.integers(0, len(REGIONS), hosts),
        rng.random(hosts) < CANARY_SHARE,
    )
    fact_sets, fact_set = _host_facts(seed, platform, region)
    faults, noise = _faults(plan, signatures, [fact_sets[i] for i in fact_set]), _Noise()
    extras = _Extras.of(plan, hosts, days)
    offers = _offers(days)[(platform * len(REGIONS) + region) * 2 + canary]
    factor, mean_hours = np.array(plan.platform_factors)[platform], REBOOT_HOURS[platform]
    window = days * 24

    # What each host still up carries from one boot to its next.
    active = np.arange(hosts)
    start = rng.uniform(0, min(24.0, window), hosts)
    kexec, release, count = (
        np.zeros(hosts, bool),
        np.zeros(hosts, np.int64),
        np.zeros(hosts, np.int64),
    )
    steps: list[tuple[NDArray[Any], ...]] = []
    crash_steps: list[tuple[NDArray[Any], ...]] = []
    excess = np.zeros(len(faults.signature))
    booted = 0
    while len(active):
        n = len(active)
        offered = offers[active] <= start[:, None]
        previous = np.where(kexec, release, -1)
        release = len(CALENDAR) - 1 - np.argmax(offered[:, ::-1], axis=1)
        count = np.where(kexec, count + 1, 0)
        lost = kexec & (rng.random(n) < LOST_SHARE)
        row = np.where(kexec, previous, len(CALENDAR))
        base = faults.rates[release] * factor[active]
        rates = _Rates.of(
            faults, noise, base=base, row=row, release=release, count=count, host=active
        )

        planned = 0.5 + rng.gamma(2.0, mean_hours[active] / 2)
        span = np.minimum(planned, window - start)
        until_fatal = rng.exponential(1.0, n) / rates.fatal.sum(axis=0)
        fatal = until_fatal < span
        hours = np.maximum(np.floor(np.where(fatal, until_fatal, span) * _QUANTUM), 1) / _QUANTUM
        excess += rates.excess(span, len(excess))
        crash_boot, signature, at = rates.draw(rng, noise, faults, hours, fatal)
        crash_steps.append((crash_boot + booted, signature, at))
        if extras is not None:
            (more, more_signature, more_at), early = extras.draw(
                noise, faults, (active, row, release, start, hours, base)
            )
            crash_steps.append((more + booted, more_signature, more_at))
            excess += early

        ends = fatal | (planned < window - start)
        kexec = ~fatal & (rng.random(n) < KEXEC_SHARE)
        ending = np.where(
            fatal, _PANIC, np.where(~ends, _RUNNING, np.where(kexec, _KEXEC, _REBOOT))
        )
        steps.append((active, release, previous, lost, count, start, hours, ending))
        booted += n

        start = start + hours + np.where(kexec, _KEXEC_GAP, _REBOOT_GAP)
        keep = ends & (start < window)
        active, start, kexec, release, count = (
            a[keep] for a in (active, start, kexec, release, count)
        )

    boots, crashes = _ordered(steps, crash_steps)
    return Fleet(
        plan,
        float(days),
        platform,
        region,
        canary,
        fact_sets,
        fact_set,
        np.zeros(hosts, bool) if extras is None else extras.flaky,
        boots,
        crashes,
        signatures,
        tuple(excess.tolist()),
    )


def _host_facts(seed: int, platform: Ints, region: Ints) -> tuple[tuple[dict[str, str], ...], Ints]:
    """Each host's facts: its platform's, its region as an operator's label, and
    5-level paging, a TPM and BIOS boot drawn apart (from their own random stream,
    so that facts change nothing else of a seed's fleet)."""
    rng = np.random.default_rng([seed, 3])
    hosts = len(platform)
    la57, tpm = rng.random(hosts) < LA57_SHARE, rng.random(hosts) < TPM_SHARE
    bios = (platform == 2) & (rng.random(hosts) < BIOS_SHARE)
    key = np.ravel_multi_index(
        (platform, region, la57, tpm, bios), (len(PLATFORMS), len(REGIONS), 2, 2, 2)
    )
    cells, fact_set = np.unique(key, return_inverse=True)
    sets = tuple(
        PLATFORM_FACTS[p]
        | {
            "cpu.flag.la57": str(int(l5)),
            "tpm.present": str(int(t)),
            "boot.firmware": "bios" if b else "efi",
            "label.region": REGIONS[r],
        }
        for p, r, l5, t, b in zip(
            *np.unravel_index(cells, (len(PLATFORMS), len(REGIONS), 2, 2, 2)), strict=True
        )
    )
    return sets, fact_set.astype(np.int64)


def _ordered(
    steps: list[tuple[NDArray[Any], ...]], crash_steps: list[tuple[NDArray[Any], ...]]
) -> tuple[Boots, Crashes]:
    """Boots by host and start, crashes by boot and time, from the steps' columns."""
    columns = [np.concatenate(c) for c in zip(*steps, strict=True)]
    order = np.argsort(columns[0], kind="stable")
    renumber = np.empty_like(order)
    renumber[order] = np.arange(len(order))
    boot, signature, at = (np.concatenate(c) for c in zip(*crash_steps, strict=True))
    boot = renumber[boot]
    by_time = np.lexsort((at, boot))
    return Boots(*(c[order] for c in columns)), Crashes(
        boot[by_time], signature[by_time], at[by_time]
    )
