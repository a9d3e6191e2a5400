"""
Scenario
--------

What a simulated fleet is made of, fixed by the seed alone so that fleets of
any size or length share their faults: the release calendar, the order in
which host classes are offered each release, each platform's baseline crash
rate, and the injected bugs.

The calendar is given in fractions of the simulated window, so a short
window still crosses every release and both KHO ABI changes. Classes are
offered a release in platform order, then region order; the platform that
upgrades first also reboots most often and crashes most, so it is over-
represented among the predecessors of every later release, as the first
upgraders of a real fleet are. That is the confounder an analysis must
stratify away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from kexec_lineage.errors import InputError
from kexec_lineage.sim.crashes import BUGS, Signature

__all__ = (
    "CALENDAR",
    "HARDWARE",
    "KINDS",
    "LA57_SHARE",
    "PLATFORMS",
    "PLATFORM_FACTS",
    "REGIONS",
    "Culprit",
    "DepthBug",
    "Incident",
    "Rollout",
    "Scenario",
    "TransitionBug",
    "scenario",
)


@dataclass(frozen=True, slots=True)
class Rollout:
    """A release and when the first class is offered it.

    :param at: fraction of the window; 0 for the release every host runs at the start.
    :param kho: its ``KHO_FDT_COMPATIBLE`` (kexec-metadata came with kho-v3 in 7.1).
    :param canary: a release candidate, offered to the canary slice only.
    """

    release: str
    at: float
    kho: str
    canary: bool = False


#: Every release, in version order.
CALENDAR: tuple[Rollout, ...] = (
    Rollout("6.18.8", 0.0, "kho-v1"),
    Rollout("6.18.9", 0.03, "kho-v1"),
    Rollout("7.0.0", 0.06, "kho-v2"),
    Rollout("7.0.1", 0.13, "kho-v2"),
    Rollout("7.1.0-rc1", 0.10, "kho-v3", canary=True),
    Rollout("7.1.0-rc2", 0.14, "kho-v3", canary=True),
    Rollout("7.1.0-rc3", 0.18, "kho-v3", canary=True),
    Rollout("7.1.0", 0.22, "kho-v3"),
    Rollout("7.1.1", 0.30, "kho-v3"),
    Rollout("7.1.2", 0.38, "kho-v3"),
    Rollout("7.1.3", 0.48, "kho-v3"),
    Rollout("7.2.0-rc1", 0.42, "kho-v4", canary=True),
    Rollout("7.2.0-rc2", 0.46, "kho-v4", canary=True),
    Rollout("7.2.0-rc3", 0.50, "kho-v4", canary=True),
    Rollout("7.2.0", 0.56, "kho-v4"),
    Rollout("7.2.1", 0.66, "kho-v4"),
    Rollout("7.2.2", 0.76, "kho-v4"),
    Rollout("7.2.3", 0.88, "kho-v4"),
)

#: Hardware platforms, in the order they are offered a release.
PLATFORMS = ("genoa", "sapphire-rapids", "milan", "altra")
#: What the agent reads of each platform (``/sys/class/dmi/id``, ``/proc/cpuinfo``).
PLATFORM_FACTS: tuple[dict[str, str], ...] = tuple(
    {
        "dmi.sys_vendor": vendor,
        "dmi.product_name": product,
        "dmi.system": f"{vendor} {product}",
        "dmi.board_name": board,
        "dmi.bios_version": bios,
        "dmi.bios_date": date,
        "cpu.vendor": cpu,
    }
    for vendor, product, board, bios, date, cpu in (
        ("Dell Inc.", "PowerEdge R7625", "0M7YXP", "1.8.3", "04/15/2024", "AuthenticAMD"),
        ("Supermicro", "SYS-221H-TNR", "X13DEM", "2.1", "02/22/2024", "GenuineIntel"),
        (
            "HPE",
            "ProLiant DL385 Gen10 Plus v2",
            "ProLiant DL385 Gen10 Plus v2",
            "A42",
            "07/18/2023",
            "AuthenticAMD",
        ),
        (
            "GIGABYTE",
            "R272-P30-JG",
            "MP32-AR2-JG",
            "F31n (SCP: 2.10.20220531)",
            "09/29/2022",
            "0x41",
        ),
    )
)
#: What each platform's kernel prints as ``DMI:`` and ``Hardware name:``.
HARDWARE = tuple(
    f"{f['dmi.system']}/{f['dmi.board_name']}, BIOS {f['dmi.bios_version']} {f['dmi.bios_date']}"
    for f in PLATFORM_FACTS
)
#: Share of hosts whose kernel runs with 5-level paging (``cpu.flag.la57``), on
#: every platform; of hosts with a TPM; of the third platform's hosts that boot
#: by BIOS rather than EFI.
LA57_SHARE = 0.1
TPM_SHARE = 0.7
BIOS_SHARE = 0.25
#: Regions, in the order they are offered a release.
REGIONS = ("us-east", "eu-west", "ap-south")

#: How long after the first class each platform and region is offered a release
#: (fractions of the window, added up).
PLATFORM_LAG = (0.0, 0.05, 0.10, 0.20)
REGION_LAG = (0.0, 0.015, 0.03)
#: Mean days between reboots, per platform.
REBOOT_DAYS = (2.5, 3.5, 4.0, 5.0)
#: Share of hosts in the canary slice, which runs release candidates.
CANARY_SHARE = 0.04
#: Share of planned reboots that are kexecs (the rest are cold).
KEXEC_SHARE = 0.7
#: Share of kexec boots whose record lost the previous release.
LOST_SHARE = 0.02
#: Crashes per boot-hour of a release on a platform of factor 1, before the
#: release's own spread; release candidates crash more.
BASE_RATE = 1 / 2000
RC_FACTOR = 1.6


@dataclass(frozen=True, slots=True)
class TransitionBug:
    """Boots of ``release`` kexec'd from any of ``predecessors`` crash ``multiplier`` times
    as often, with ``signature``; only on hosts with the fact ``only_on`` where given.

    An ``early`` bug strikes instead in the first minutes of a boot: a boot crashes with
    probability ``multiplier`` / 100 at a time drawn with a mean of :data:`EARLY_MEAN_HOURS`
    (those past :data:`EARLY_HOURS` or the boot's end are dropped), survivably.
    """

    release: str
    predecessors: tuple[str, ...]
    multiplier: float
    signature: Signature
    only_on: tuple[str, str] | None = None
    early: bool = False


@dataclass(frozen=True, slots=True)
class Culprit:
    """Every boot kexec'd from ``predecessor``, into any release, crashes ``multiplier``
    times as often, with ``signature``: a kernel that leaves devices in a bad state."""

    predecessor: str
    multiplier: float
    signature: Signature


@dataclass(frozen=True, slots=True)
class Incident:
    """For ``days`` days from ``start`` (a fraction of the window) every boot up meets
    ``multiplier`` times its everyday crashes: a bad network push, a power event."""

    start: float
    days: float
    multiplier: float


@dataclass(frozen=True, slots=True)
class DepthBug:
    """Boots of ``release`` crash ``multiplier ** kexec_count`` times as often, with
    ``signature``."""

    release: str
    multiplier: float
    signature: Signature


@dataclass(frozen=True, slots=True)
class Scenario:
    """The faults and rates of one seed.

    ``rates`` holds, per :data:`CALENDAR` entry, crashes per boot-hour on a
    platform of factor 1; ``platform_factors`` one factor per :data:`PLATFORMS`.
    """

    seed: int
    rates: tuple[float, ...]
    platform_factors: tuple[float, ...]
    transition_bugs: tuple[TransitionBug, ...]
    depth_bugs: tuple[DepthBug, ...]
    kind: str = "transition"
    culprits: tuple[Culprit, ...] = ()
    #: share of hosts that crash on :data:`FLAKY_CRASH` of their boots whatever they run
    flaky_share: float = 0.0
    incident: Incident | None = None


#: What a scenario injects: transition and depth bugs (``transition``), transition bugs
#: on the hosts of one fact only (``fact``), culprit predecessors, early-boot transition
#: bugs, flaky hosts, a fleet-wide incident, or nothing.
KINDS = ("transition", "fact", "culprit", "early", "flaky", "incident", "none")
#: Facts a fact-conditional bug may need.
BUG_FACTS = (("cpu.flag.la57", "1"), ("boot.firmware", "bios"))
#: Early bugs strike this soon after boot, at this mean time (hours).
EARLY_HOURS = 0.25
EARLY_MEAN_HOURS = 5 / 60
#: Share of a flaky host's boots with a crash of their own.
FLAKY_CRASH = 1 / 3


def scenario(seed: int, kind: str = "transition") -> Scenario:
    """The scenario of ``seed``: the same seed gives the same calendar rates and class
    factors whatever the ``kind`` of fault.

    :raises InputError: a negative seed, or a kind not in :data:`KINDS`.
    """
    if seed < 0:
        raise InputError(f"the seed must be 0 or more, not {seed}")
    if kind not in KINDS:
        raise InputError(f"unknown kind of fault {kind!r}; one of {', '.join(KINDS)}")
    rng = np.random.default_rng([seed, 0])
    names = [r.release for r in CALENDAR]
    rates = tuple(
        round(BASE_RATE * math.exp(rng.normal(0.0, 0.2)) * (RC_FACTOR if r.canary else 1.0), 7)
        for r in CALENDAR
    )
    # The first platform to upgrade is also the one with the highest baseline.
    factors = (
        round(rng.uniform(1.6, 2.4), 2),
        *(round(rng.uniform(0.7, 1.3), 2) for _ in PLATFORMS[1:]),
    )
    # Transition bugs hit 7.0.1 and later (each has a predecessor range before it);
    # depth bugs the KHO era, 7.1.0 and later.
    stable = [i for i, r in enumerate(CALENDAR) if not r.canary and i >= names.index("7.0.1")]
    chosen = [int(i) for i in rng.choice(stable, size=int(rng.integers(2, 5)), replace=False)]
    later = [i for i in stable if i >= names.index("7.1.0") and i not in chosen]
    deep = [int(i) for i in rng.choice(later, size=int(rng.integers(1, 3)), replace=False)]
    signatures = [BUGS[int(i)] for i in rng.choice(len(BUGS), len(chosen) + len(deep), False)]
    transition_bugs = []
    for release in sorted(chosen):
        last = release - 1 - int(rng.integers(0, 3))
        first = max(0, last - int(rng.integers(0, 3)))
        transition_bugs.append(
            TransitionBug(
                names[release],
                tuple(names[first : last + 1]),
                round(math.exp(rng.uniform(math.log(2), math.log(20))), 2),
                signatures.pop(),
            )
        )
    depth_bugs = tuple(
        DepthBug(names[release], round(rng.uniform(1.15, 1.5), 2), signatures.pop())
        for release in sorted(deep)
    )
    if kind == "transition":
        return Scenario(seed, rates, factors, tuple(transition_bugs), depth_bugs)
    return _other_kind(seed, kind, rates, factors)


def _other_kind(
    seed: int, kind: str, rates: tuple[float, ...], factors: tuple[float, ...]
) -> Scenario:
    """A scenario of the faults of ``kind`` (but ``transition``), drawn apart."""
    rng = np.random.default_rng([seed, 4, KINDS.index(kind)])
    names = [r.release for r in CALENDAR]
    plain = Scenario(seed, rates, factors, (), (), kind)
    if kind in ("none", "flaky", "incident"):
        if kind == "flaky":
            return replace(plain, flaky_share=0.001)
        if kind == "incident":
            start, days = float(rng.uniform(0.2, 0.8)), float(rng.uniform(2, 5))
            return replace(plain, incident=Incident(start, days, round(rng.uniform(3, 6), 2)))
        return plain
    stable = [i for i, r in enumerate(CALENDAR) if not r.canary and i >= names.index("7.0.1")]
    chosen = sorted(int(i) for i in rng.choice(stable, size=int(rng.integers(1, 4)), replace=False))
    survivable = [s for s in BUGS if not s.fatal]
    pool = survivable if kind == "early" else list(BUGS)
    signatures = [pool[int(i)] for i in rng.choice(len(pool), len(chosen), False)]
    if kind == "culprit":
        # A culprit at a release that others follow: its successors need boots.
        culprits = tuple(
            Culprit(names[i - 1], round(math.exp(rng.uniform(math.log(3), math.log(10))), 2), sig)
            for i, sig in zip(chosen, signatures, strict=True)
        )
        return replace(plain, culprits=culprits)
    bugs = []
    for release, signature in zip(chosen, signatures, strict=True):
        last = release - 1 - int(rng.integers(0, 3))
        first = max(0, last - int(rng.integers(0, 3)))
        if kind == "fact":
            fact = BUG_FACTS[int(rng.integers(0, len(BUG_FACTS)))]
            multiplier = round(math.exp(rng.uniform(math.log(3), math.log(20))), 2)
            extra: dict[str, Any] = {"only_on": fact}
        else:  # early: the percentage of boots that crash early
            multiplier = round(math.exp(rng.uniform(math.log(0.5), math.log(5))), 2)
            extra = {"early": True}
        bugs.append(
            TransitionBug(
                names[release], tuple(names[first : last + 1]), multiplier, signature, **extra
            )
        )
    return replace(plain, transition_bugs=tuple(bugs))
