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
from fastapi import HTTPException

from kexec_lineage.fleet.count_queries import transitions
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


def test_two_batches_of_a_host_at_once_pass_the_days_bound_once(store: Store) -> None:
    limits = Limits(max_boots_per_day=4)
    together = threading.Barrier(2)
    outcomes: list[int | BaseException] = []

    def send(n: int) -> None:
        records = [BootRecord(Boot("web-1", f"b-{n}-{i}", "7.1.2", "cold")) for i in range(3)]
        now = time.time()
        checks = admission(records, now, limits)
        together.wait()
        try:
            outcomes.append(store.ingest_boots(records, now, checks).inserted)
        except HTTPException as exc:
            outcomes.append(exc.status_code)
        except BaseException as exc:  # handed to the test thread
            outcomes.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes, key=str) == [3, 429]
    assert len(store.chain("web-1")) == 3
    assert boots_stored(store) == 3
