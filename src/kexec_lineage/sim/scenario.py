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
from dataclasses import dataclass

import numpy as np

from kexec_lineage.errors import InputError
from kexec_lineage.sim.crashes import BUGS, Signature

__all__ = (
    "CALENDAR",
    "HARDWARE",
    "PLATFORMS",
    "REGIONS",
    "DepthBug",
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
#: What each platform's kernel prints as ``Hardware name:``.
HARDWARE = (
    "Dell Inc. PowerEdge R7625/0M7YXP, BIOS 1.8.3 04/15/2024",
    "Supermicro SYS-221H-TNR/X13DEM, BIOS 2.1 02/22/2024",
    "HPE ProLiant DL385 Gen10 Plus v2/ProLiant DL385 Gen10 Plus v2, BIOS A42 07/18/2023",
    "GIGABYTE R272-P30-JG/MP32-AR2-JG, BIOS F31n (SCP: 2.10.20220531) 09/29/2022",
)
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
    as often, with ``signature``."""

    release: str
    predecessors: tuple[str, ...]
    multiplier: float
    signature: Signature


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


def scenario(seed: int) -> Scenario:
    """The scenario of ``seed``.

    :raises InputError: a negative seed.
    """
    if seed < 0:
        raise InputError(f"the seed must be 0 or more, not {seed}")
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
    return Scenario(seed, rates, factors, tuple(transition_bugs), depth_bugs)
