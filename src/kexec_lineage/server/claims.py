"""
Claims
------

What one host's boots may claim before they count in the fleet's statistics. A
host token writes only its own host, but one host could still outweigh the
fleet: boots with a million hours each dilute a real suspect away, and a few
hundred boots can make up a transition. So a batch is checked against time
itself and against the host's own history:

- no boot starts in the future (beyond a day of clock skew), and none is up for
  longer than since its start, nor longer than ``max_uptime_hours`` at all;
- a host's boots follow one another, so together they are up no longer than
  the time since its first boot, or since the collector first heard of it
  (with 5% and a day of slack for clock error);
- a host sends at most ``max_boots_per_day`` boots a day (429: later).

The checks against the history are made in the transaction that stores the
batch (:class:`~kexec_lineage.fleet.store.Admission`): two batches of a host
sent at once cannot both pass, and the store reads the host's boots once.

The analysis also asks crashes of several hosts before it names a suspect
(:mod:`kexec_lineage.fleet.analysis`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

from kexec_lineage.fleet.store import Admission, HostHistory
from kexec_lineage.model.wire import BootRecord

__all__ = ("Limits", "admission")

_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Limits:
    max_boots_per_day: int = 1000
    max_uptime_hours: float = 3 * 366 * 24.0
    clock_skew: float = _DAY


def _error(index: int, field: str, message: str) -> dict[str, object]:
    return {"loc": ("body", "boots", index, field), "msg": message, "type": "implausible"}


def admission(records: Sequence[BootRecord], now: float, limits: Limits) -> Admission:
    """The checks of a batch of a host's boots at ``now``: what it claims by itself now,
    and the :class:`~kexec_lineage.fleet.store.Admission` that checks the rest against
    the host's history as the store stores the batch.

    :raises RequestValidationError: a boot claims what cannot be (422, naming it);
        the admission raises it too, and :class:`HTTPException` 429 when the host sent
        its boots of the day.
    """
    errors = []
    for i, record in enumerate(records):
        start, hours = record.started_at, record.hours
        if start is not None and start > now + limits.clock_skew:
            errors.append(_error(i, "started_at", "a boot that starts in the future"))
        elif hours is not None and hours > limits.max_uptime_hours:
            errors.append(_error(i, "hours", f"up for more than {limits.max_uptime_hours:g} h"))
        elif start is not None and hours is not None and hours * 3600 > now - start + 3600:
            errors.append(_error(i, "hours", "up for longer than since its start"))
    if errors:
        raise RequestValidationError(errors)
    return Admission(now - _DAY, partial(_check_history, records, now, limits))


def _check_history(
    records: Sequence[BootRecord], now: float, limits: Limits, host: str, history: HostHistory
) -> None:
    """:raises RequestValidationError, HTTPException: ``records`` on top of the host's
    ``history`` claim more boots or boot-hours than a host can have."""
    # A boot is one boot however often the batch holds it, up for the longest uptime
    # it is sent with or stored with (uptime only grows: a stored boot sent again
    # without one keeps its own).
    ends_up = dict(history.batch_hours)
    for record in records:
        boot_id = record.boot.boot_id
        ends_up[boot_id] = max(ends_up.get(boot_id, 0.0), record.hours or 0.0)
    if history.recent_boots + len({r.boot.boot_id for r in records}) > limits.max_boots_per_day:
        raise HTTPException(
            429,
            f"host {host} sent more than {limits.max_boots_per_day} boots in a day",
            {"Retry-After": "3600"},
        )
    # Without a start anywhere, the host's life is known from when it was first heard of.
    starts = [r.started_at for r in records if r.started_at is not None]
    starts += [t for t in (history.first_start, history.first_seen) if t is not None]
    claimed = history.hours + sum(ends_up.values())
    allowed = (now - min(starts, default=now)) / 3600 * 1.05 + 24
    # A batch that adds no hours to those stored is not refused for them.
    if claimed > allowed and claimed > history.hours + sum(history.batch_hours.values()):
        raise RequestValidationError(
            [
                _error(
                    i,
                    "hours",
                    f"host {host}'s boots add up to {claimed:.0f} h "
                    f"in the {allowed:.0f} h since its first boot",
                )
                for i, r in enumerate(records)
                if r.hours
            ]
        )
