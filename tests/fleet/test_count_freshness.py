"""When transitions booted and each release's boots per day, read from the count cells
on both databases: first and last seen, growth, no longer arriving, rates over time."""

from __future__ import annotations

from kexec_lineage.fleet.count_queries import (
    ARRIVING_DAYS,
    GROWTH_DAYS,
    ReleaseDay,
    Seen,
    freshness,
    release_days,
)
from kexec_lineage.fleet.store import Store
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.crash import Crash
from kexec_lineage.model.wire import BootRecord, CrashRecord

NEWEST = 20_000


def boot(
    n: int, day: int | None, release: str, how: str = "cold", previous: str | None = None
) -> BootRecord:
    """Boot ``n``, of 2 hours, started on ``day`` (``None``: unknown)."""
    started = None if day is None else day * 86400 + 60.0
    count = 1 if how == "kexec" else 0
    return BootRecord(Boot(f"h-{n % 5}", f"b-{n}", release, how, previous, count), started, 2.0)


def test_freshness_and_days_of_a_known_fleet(store: Store) -> None:
    records = [
        # 7.2.0 after 7.1.0: 2 boots a day on the fleet's last 7 days, 1 on the 7 before.
        *(boot(d, NEWEST - d, "7.2.0", "kexec", "7.1.0") for d in range(14)),
        *(boot(100 + d, NEWEST - d, "7.2.0", "kexec", "7.1.0") for d in range(GROWTH_DAYS)),
        # 7.2.0 after 7.0.0: last booted just outside the arriving window.
        boot(200, NEWEST - ARRIVING_DAYS, "7.2.0", "kexec", "7.0.0"),
        boot(201, NEWEST - 40, "7.2.0", "kexec", "7.0.0"),
        # Neither a day nor a place on the time axis: unknown start, a kdump boot.
        boot(300, None, "7.2.0"),
        boot(301, NEWEST - 1, "7.2.0", "kdump", "7.2.0"),
    ]
    store.ingest_boots(records)
    store.ingest_crashes([CrashRecord("h-0", "b-0", Crash("BUG: x"))])

    fresh = freshness(store)
    assert fresh.newest_day == NEWEST
    assert fresh.seen[("7.2.0", "7.1.0")] == Seen(NEWEST - 13, NEWEST, 14, 7)
    assert fresh.seen[("7.2.0", "7.1.0")].growing
    assert fresh.seen[("7.2.0", "7.0.0")] == Seen(NEWEST - 40, NEWEST - ARRIVING_DAYS, 0, 1)
    assert ("7.2.0", "cold") not in fresh.seen  # its one boot has no day
    assert fresh.arriving("7.2.0", ("7.1.0",))
    assert not fresh.arriving("7.2.0", ("7.0.0",))
    assert fresh.arriving("7.2.0", ("7.0.0", "7.1.0"))  # one of the range still comes
    assert fresh.arriving("7.2.0", ("cold",))  # nobody can say it stopped
    assert fresh.fields("7.2.0", "7.0.0") == {
        "first_seen": "2024-08-25",
        "last_seen": "2024-09-27",
        "recent_boots": 0,
        "earlier_boots": 1,
        "growing": False,
    }

    days = {(d.release, d.day): d for d in release_days(store)}
    assert days[("7.2.0", NEWEST)] == ReleaseDay("7.2.0", NEWEST, 2, 4.0, 1)
    assert days[("7.2.0", NEWEST - 1)].boots == 2  # the kdump boot is not counted
    assert sum(d.boots for d in days.values()) == len(records) - 2


def test_an_empty_fleet_has_no_days(store: Store) -> None:
    fresh = freshness(store)
    assert (fresh.newest_day, fresh.seen) == (None, {})
    assert fresh.arriving("7.2.0", ("7.1.0",))
    assert release_days(store) == []


def test_crash_captures_do_not_keep_a_transition_arriving(store: Store) -> None:
    # Hosts kexec'd 7.2.0 into itself a month ago and have moved on since; their
    # crashes of the last days booted kdump capture kernels (7.2.0 after 7.2.0 too).
    # Those are no hosts booting into the transition: it is neither seen lately, nor
    # growing, nor still arriving, and no day of the fleet is theirs.
    store.ingest_boots(
        [
            *(boot(n, NEWEST - 30 + n, "7.2.0", "kexec", "7.2.0") for n in range(2)),
            boot(10, NEWEST, "7.3.0", "kexec", "7.2.0"),
            *(boot(20 + n, NEWEST - n, "7.2.0", "kdump", "7.2.0") for n in range(1, 4)),
            boot(30, NEWEST + 1, "7.3.0", "kdump", "7.3.0"),
        ]
    )
    fresh = freshness(store)
    assert fresh.newest_day == NEWEST
    assert fresh.seen[("7.2.0", "7.2.0")] == Seen(NEWEST - 30, NEWEST - 29, 0, 0)
    assert not fresh.seen[("7.2.0", "7.2.0")].growing
    assert not fresh.arriving("7.2.0", ("7.2.0",))
    assert ("7.3.0", "7.3.0") not in fresh.seen
