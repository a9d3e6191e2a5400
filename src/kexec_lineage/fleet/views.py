"""
Views
-----

The read queries behind the dashboard: fleet totals, the hosts and titles of
one transition, where a title occurs with sample reports, a host's crashes by
boot, and search. Like every SQL statement of the project they live in the
``fleet`` layer; the server only renders what they return.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kexec_lineage.fleet.count_sql import predecessor_of_boot, with_crash_counts
from kexec_lineage.fleet.count_table import CountRow
from kexec_lineage.fleet.schema import boots, crashes, hosts
from kexec_lineage.fleet.store import Store

__all__ = (
    "Summary",
    "host_crashes",
    "search",
    "summary",
    "title_samples",
    "transition_hosts",
)


@dataclass(frozen=True, slots=True)
class Summary:
    hosts: int
    boots: int
    releases: tuple[str, ...]


def summary(store: Store, days: Iterable[CountRow]) -> Summary:
    """How big the fleet is, and its releases: its hosts, and the boots and releases of
    :func:`~kexec_lineage.fleet.count_queries.day_sums` (every stored boot counts in
    one; counting the boots themselves takes seconds at 10M)."""
    with store.transaction("counting hosts") as connection:
        host_count = connection.execute(sa.select(sa.func.count()).select_from(hosts)).scalar_one()
    listed = list(days)
    releases = tuple(dict.fromkeys(d.release for d in listed))
    return Summary(int(host_count), sum(d.boots for d in listed), releases)


def transition_hosts(
    store: Store, release: str, predecessor: str, limit: int = 20
) -> list[dict[str, Any]]:
    """Hosts that booted ``release`` after ``predecessor``, those with crashes first."""
    joined, per_boot = with_crash_counts(boots.join(hosts, hosts.c.id == boots.c.host_id))
    crashed = sa.func.coalesce(sa.func.sum(per_boot.c.n), 0)
    query = (
        sa.select(hosts.c.name, sa.func.count().label("boots"), crashed.label("crashes"))
        .select_from(joined)
        .where(boots.c.release == release, predecessor_of_boot() == predecessor)
        .group_by(hosts.c.name)
        .order_by(crashed.desc(), hosts.c.name)
        .limit(limit)
    )
    with store.transaction("listing a transition's hosts") as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def title_samples(store: Store, title: str, limit: int = 3) -> list[dict[str, Any]]:
    """A few reports of ``title``, with the host, boot and release they came from."""
    query = (
        sa.select(
            hosts.c.name.label("host"), crashes.c.boot_id, crashes.c.release, crashes.c.report
        )
        .select_from(crashes.join(hosts, hosts.c.id == crashes.c.host_id))
        .where(crashes.c.title == title)
        .order_by(crashes.c.id)
        .limit(limit)
    )
    with store.transaction("reading sample reports") as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def host_crashes(store: Store, host: str) -> dict[str, list[str]]:
    """The titles of each boot's crashes on ``host``, by boot id."""
    query = (
        sa.select(crashes.c.boot_id, crashes.c.title)
        .select_from(crashes.join(hosts, hosts.c.id == crashes.c.host_id))
        .where(hosts.c.name == host)
        .order_by(crashes.c.id)
    )
    out: dict[str, list[str]] = {}
    with store.transaction("reading a host's crashes") as connection:
        for boot_id, title in connection.execute(query):
            out.setdefault(boot_id, []).append(title)
    return out


def search(store: Store, text: str, limit: int = 20) -> dict[str, list[str]]:
    """Hosts, releases and crash titles containing ``text``."""
    if not text:
        return {"hosts": [], "releases": [], "titles": []}
    with store.transaction("searching") as connection:
        found_hosts = connection.execute(
            sa.select(hosts.c.name)
            .where(hosts.c.name.contains(text, autoescape=True))
            .order_by(hosts.c.name)
            .limit(limit)
        ).scalars()
        releases = connection.execute(
            sa.select(boots.c.release)
            .where(boots.c.release.contains(text, autoescape=True))
            .distinct()
            .limit(limit)
        ).scalars()
        titles = connection.execute(
            sa.select(crashes.c.title)
            .where(crashes.c.title.contains(text, autoescape=True))
            .distinct()
            .limit(limit)
        ).scalars()
        return {"hosts": list(found_hosts), "releases": sorted(releases), "titles": sorted(titles)}
