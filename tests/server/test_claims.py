"""What a host's boots may claim, checked against its history in the transaction that
stores them (:mod:`kexec_lineage.server.claims`): the batch's own stored boots are not
counted twice, a refused batch stores nothing, and two batches of a host sent at once
cannot both pass the day's bound."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

from kexec_lineage.fleet.count_queries import transitions
from kexec_lineage.fleet.schema import boots
from kexec_lineage.fleet.store import Store
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.wire import BootRecord
from kexec_lineage.server.app import create_app
from kexec_lineage.server.claims import Limits, admission
from tests.server.conftest import Tokens, bearer


@pytest.fixture
async def three_a_day(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a collector that takes three boots a day from a host."""
    transport = httpx.ASGITransport(app=create_app(store, limits=Limits(max_boots_per_day=3)))
    async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
        yield client


def boot(boot_id: str, **fields: Any) -> dict[str, Any]:
    return {"host": "web-1", "boot_id": boot_id, "release": "7.1.2", "how": "cold"} | fields


async def post(client: httpx.AsyncClient, token: str, boots: list[dict[str, Any]]) -> int:
    response = await client.post("/v1/boots", json={"boots": boots}, headers=bearer(token))
    return response.status_code


def boots_stored(store: Store) -> int:
    return sum(t.boots for t in transitions(store))


def boot_hours(store: Store) -> float:
    with store.engine.connect() as connection:
        return float(connection.execute(sa.select(sa.func.sum(boots.c.hours))).scalar() or 0.0)


@pytest.mark.anyio
async def test_boots_sent_again_are_not_more_of_the_days_boots(
    three_a_day: httpx.AsyncClient, store: Store, tokens: Tokens
) -> None:
    first = [boot(f"b-{i}") for i in range(3)]
    assert await post(three_a_day, tokens.web1, first) == 200
    # The same boots, their uptime grown: corrections, not boots beyond the day's.
    assert await post(three_a_day, tokens.web1, [b | {"hours": 1.0} for b in first]) == 200
    assert await post(three_a_day, tokens.web1, [boot("b-3")]) == 429
    assert [b.boot_id for b in store.chain("web-1")] == ["b-0", "b-1", "b-2"]
    assert boots_stored(store) == 3


@pytest.mark.anyio
async def test_hours_sent_again_are_not_counted_twice(
    client: httpx.AsyncClient, store: Store, tokens: Tokens
) -> None:
    # A host first heard of now may claim a day of boot-hours (the clock's slack).
    assert await post(client, tokens.web1, [boot("b-0", hours=20.0)]) == 200
    assert await post(client, tokens.web1, [boot("b-0", hours=20.0)]) == 200
    response = await client.post(
        "/v1/boots", json={"boots": [boot("b-1", hours=20.0)]}, headers=bearer(tokens.web1)
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "boots", 0, "hours"]
    assert "add up to 40 h" in error["msg"]
    assert [b.boot_id for b in store.chain("web-1")] == ["b-0"]
    assert boots_stored(store) == 1


def at_once(store: Store, batches: list[list[BootRecord]], limits: Limits) -> list[object]:
    """Each batch checked and stored in a thread of its own, all at the same moment:
    what each stored (boots inserted), or the status it was refused with."""
    together = threading.Barrier(len(batches))
    outcomes: list[object] = []

    def send(records: list[BootRecord]) -> None:
        now = time.time()
        checks = admission(records, now, limits)
        together.wait()
        try:
            outcomes.append(store.ingest_boots(records, now, checks).inserted)
        except HTTPException as exc:
            outcomes.append(exc.status_code)
        except RequestValidationError:
            outcomes.append(422)
        except BaseException as exc:  # handed to the test thread
            outcomes.append(exc)

    threads = [threading.Thread(target=send, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_two_batches_of_a_host_at_once_pass_the_days_bound_once(store: Store) -> None:
    batches = [
        [BootRecord(Boot("web-1", f"b-{n}-{i}", "7.1.2", "cold")) for i in range(3)]
        for n in range(2)
    ]
    outcomes = at_once(store, batches, Limits(max_boots_per_day=4))
    assert sorted(outcomes, key=str) == [3, 429]
    assert len(store.chain("web-1")) == 3
    assert boots_stored(store) == 3


@pytest.mark.anyio
async def test_hours_of_stored_boots_sent_again_without_them_still_count(
    client: httpx.AsyncClient, store: Store, tokens: Tokens
) -> None:
    # A host first heard of now may claim about a day of boot-hours. Its stored boots
    # keep their uptime when sent again without one (uptime only grows), so a batch
    # that re-sends them bare still holds their hours: it may not add a day more each.
    assert await post(client, tokens.web1, [boot("b-0", hours=20.0)]) == 200
    assert await post(client, tokens.web1, [boot("b-0"), boot("b-1", hours=20.0)]) == 422
    assert await post(client, tokens.web1, [boot("b-0", hours=1.0), boot("b-1", hours=20.0)]) == 422
    assert [b.boot_id for b in store.chain("web-1")] == ["b-0"]
    assert boot_hours(store) == 20.0


@pytest.mark.anyio
async def test_a_boot_sent_twice_in_one_batch_is_one_boot_of_the_day(
    three_a_day: httpx.AsyncClient, store: Store, tokens: Tokens
) -> None:
    # A batch that holds a boot twice (its uptime grown between the two) is one boot
    # against the day's bound, and its hours are those it ends up with, not their sum.
    twice = [boot("b-0", hours=1.0), boot("b-0", hours=2.0)]
    assert await post(three_a_day, tokens.web1, [*twice, boot("b-1"), boot("b-2")]) == 200
    assert await post(three_a_day, tokens.web1, [boot("b-3")]) == 429
    assert boots_stored(store) == 3


def test_two_batches_of_a_host_at_once_pass_the_hours_bound_once(store: Store) -> None:
    # A host first heard of now may claim about a day of boot-hours: two batches of
    # 20 h each, sent at once, cannot both pass (each is checked with the other stored
    # or not at all).
    batches = [[BootRecord(Boot("web-1", f"b-{n}", "7.1.2", "cold"), hours=20.0)] for n in range(2)]
    outcomes = at_once(store, batches, Limits())
    assert sorted(outcomes, key=str) == [1, 422]
    assert boot_hours(store) == 20.0
