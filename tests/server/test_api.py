"""The collector API over a real store (SQLite file and PostgreSQL database), in-process
through httpx's ASGI transport, and once end to end: the real ``serve`` process, tokens made
by the real ``token create`` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from kexec_lineage.fleet.count_queries import transitions
from kexec_lineage.fleet.schema import crashes
from kexec_lineage.fleet.store import Store, open_store
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.crash import Crash
from kexec_lineage.model.transition import Transition
from kexec_lineage.model.wire import BootRecord, CrashRecord
from kexec_lineage.server.app import MAX_BODY, create_app
from tests.cli.test_logs_commands import write_chain
from tests.conftest import REPO, run
from tests.fleet.conftest import PostgresServer, free_port
from tests.host.trees import Tree
from tests.server.conftest import Tokens, bearer

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json"}


def kexec_lineage(*argv: str | Path) -> str:
    """Run the real command; its stdout."""
    return run(sys.executable, "-m", "kexec_lineage", *argv)


@pytest.fixture(scope="module")
def statuses(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """What ``status --json`` prints on host web-1 through a cold boot and two KHO kexecs,
    each boot recorded by the real ``record`` command."""
    root = tmp_path_factory.mktemp("host")
    out = []
    handoff = None
    for release in ("7.1.0", "7.1.2", "7.1.3"):
        handoff = Tree(root, release).kho_boot(handoff)
        kexec_lineage("--root", root, "record")
        out.append(json.loads(kexec_lineage("--root", root, "status", "--json")))
    return out


@pytest.fixture(scope="module")
def crash_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """What ``crashes --json`` prints for a console log with a WARNING in its second boot."""
    log = tmp_path_factory.mktemp("logs") / "console.log"
    write_chain(log)
    rows: list[dict[str, Any]] = json.loads(kexec_lineage("crashes", "--json", log))
    return rows


def as_crash(row: dict[str, Any], host: str = "web-1", boot_id: str = "b-2") -> dict[str, Any]:
    """A ``crashes --json`` row as the collector takes it: plus host and boot id."""
    return row | {"host": host, "boot_id": boot_id}


def boot(host: str = "web-1", boot_id: str = "b-1", **fields: Any) -> dict[str, Any]:
    return {"host": host, "boot_id": boot_id, "release": "7.1.2", "how": "cold"} | fields


# Auth


WRITES = [
    ("/v1/boots", {"boots": [boot()]}),
    ("/v1/crashes", {"crashes": [{"host": "web-1", "boot_id": "b-1", "title": "BUG: x"}]}),
]
READS = ["/v1/hosts/web-1/chain", "/v1/transitions"]


@pytest.mark.parametrize(("path", "body"), WRITES)
async def test_write_without_token_is_401(client: httpx.AsyncClient, path: str, body: Any) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(("path", "body"), WRITES)
async def test_write_with_unknown_token_is_401(
    client: httpx.AsyncClient, tokens: Tokens, path: str, body: Any
) -> None:
    response = await client.post(path, json=body, headers=bearer(tokens.web1 + "x"))
    assert response.status_code == 401
    assert response.json() == {"detail": "unknown token"}


async def test_basic_auth_is_401(client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await client.post("/v1/boots", json=WRITES[0][1], auth=("web-1", tokens.web1))
    assert response.status_code == 401


async def test_unauthenticated_invalid_body_is_401_not_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/boots", json={"boots": "nonsense"})
    assert response.status_code == 401


@pytest.mark.parametrize(("path", "body"), WRITES)
async def test_host_token_writing_its_own_host_is_stored(
    client: httpx.AsyncClient, tokens: Tokens, path: str, body: Any
) -> None:
    response = await client.post(path, json=body, headers=bearer(tokens.web1))
    assert response.status_code == 200
    assert response.json() == {"inserted": 1, "updated": 0, "unchanged": 0}


@pytest.mark.parametrize(("path", "body"), WRITES)
async def test_host_token_writing_another_host_is_403(
    client: httpx.AsyncClient, store: Store, tokens: Tokens, path: str, body: Any
) -> None:
    response = await client.post(path, json=body, headers=bearer(tokens.web2))
    assert response.status_code == 403
    assert response.json() == {"detail": "this token writes only host web-2, not web-1"}
    assert list(store.chain("web-1")) == []
    assert transitions(store) == []


async def test_batch_with_one_foreign_host_is_403_and_stores_nothing(
    client: httpx.AsyncClient, store: Store, tokens: Tokens
) -> None:
    body = {"boots": [boot("web-1", "b-1"), boot("web-2", "b-2")]}
    response = await client.post("/v1/boots", json=body, headers=bearer(tokens.web1))
    assert response.status_code == 403
    assert list(store.chain("web-1")) == []


@pytest.mark.parametrize(("path", "body"), WRITES)
async def test_read_token_writing_is_403(
    client: httpx.AsyncClient, store: Store, tokens: Tokens, path: str, body: Any
) -> None:
    response = await client.post(path, json=body, headers=bearer(tokens.read))
    assert response.status_code == 403
    assert response.json() == {"detail": "a read token cannot write"}
    assert transitions(store) == []


@pytest.mark.parametrize("path", READS)
async def test_read_with_read_token_is_200(
    client: httpx.AsyncClient, tokens: Tokens, path: str
) -> None:
    assert (await client.get(path, headers=bearer(tokens.read))).status_code == 200


@pytest.mark.parametrize("path", READS)
async def test_read_without_token_is_401(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 401


@pytest.mark.parametrize("path", READS)
async def test_host_token_reading_is_403(
    client: httpx.AsyncClient, tokens: Tokens, path: str
) -> None:
    # Even its own host's chain: a host token only writes.
    response = await client.get(path, headers=bearer(tokens.web1))
    assert response.status_code == 403
    assert response.json() == {"detail": "reading needs a read token"}


@pytest.fixture
async def local_client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(store, local=True))
    async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
        yield client


@pytest.mark.parametrize("path", READS)
async def test_local_reads_need_no_token(
    local_client: httpx.AsyncClient, store: Store, path: str
) -> None:
    store.ingest_boots([BootRecord(Boot("web-1", "b-1", "7.1.2", "cold"))])
    response = await local_client.get(path)
    assert response.status_code == 200
    assert len(next(iter(response.json().values()))) == 1


@pytest.mark.parametrize(("path", "body"), WRITES)
async def test_local_writes_still_need_a_host_token(
    local_client: httpx.AsyncClient, tokens: Tokens, path: str, body: Any
) -> None:
    assert (await local_client.post(path, json=body)).status_code == 401
    assert (
        await local_client.post(path, json=body, headers=bearer(tokens.read))
    ).status_code == 403
    assert (
        await local_client.post(path, json=body, headers=bearer(tokens.web1))
    ).status_code == 200


# Limits


async def test_declared_body_over_max_body_is_413(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    headers = bearer(tokens.web1) | JSON | {"Content-Length": str(MAX_BODY + 1)}

    async def body() -> AsyncIterator[bytes]:
        yield b"{}"  # the declared length alone decides

    response = await client.post("/v1/boots", content=body(), headers=headers)
    assert response.status_code == 413
    assert response.json() == {"detail": f"request body larger than {MAX_BODY} bytes"}


async def test_malformed_content_length_is_413(client: httpx.AsyncClient, tokens: Tokens) -> None:
    headers = bearer(tokens.web1) | JSON | {"Content-Length": "12x"}

    async def body() -> AsyncIterator[bytes]:
        yield b"{}"

    response = await client.post("/v1/boots", content=body(), headers=headers)
    assert response.status_code == 413


async def test_body_of_max_body_bytes_is_read(client: httpx.AsyncClient, tokens: Tokens) -> None:
    text = json.dumps({"boots": [boot()]})
    padded = text[:-1] + " " * (MAX_BODY - len(text)) + "}"
    assert len(padded) == MAX_BODY
    response = await client.post(
        "/v1/boots", content=padded.encode(), headers=bearer(tokens.web1) | JSON
    )
    assert response.status_code == 200


async def test_chunked_body_over_max_body_is_413(
    client: httpx.AsyncClient, store: Store, tokens: Tokens
) -> None:
    chunk = b" " * (1 << 20)

    async def body() -> AsyncIterator[bytes]:
        yield b'{"boots": [' + json.dumps(boot()).encode() + b"]"
        for _ in range(MAX_BODY // len(chunk) + 1):
            yield chunk
        yield b"}"

    response = await client.post("/v1/boots", content=body(), headers=bearer(tokens.web1) | JSON)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert list(store.chain("web-1")) == []
    assert response.status_code == 413


@pytest.mark.parametrize("kind", ["boots", "crashes"])
async def test_batch_over_1000_records_is_422(
    client: httpx.AsyncClient, store: Store, tokens: Tokens, kind: str
) -> None:
    one = boot() if kind == "boots" else as_crash({"title": "BUG: x"})
    records = [one | {"boot_id": f"b-{i}"} for i in range(1001)]
    response = await client.post(f"/v1/{kind}", json={kind: records}, headers=bearer(tokens.web1))
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", kind]
    assert error["type"] == "too_long"
    assert transitions(store) == []


async def test_batch_of_1000_records_is_stored(client: httpx.AsyncClient, tokens: Tokens) -> None:
    records = [boot(boot_id=f"b-{i}") for i in range(1000)]
    response = await client.post("/v1/boots", json={"boots": records}, headers=bearer(tokens.web1))
    assert response.status_code == 200
    assert response.json()["inserted"] == 1000


LONG_FIELDS = [
    ("boots", ("boot_id",), boot(boot_id="b" * 65)),
    ("boots", ("release",), boot(release="7" * 65)),
    ("boots", ("previous_release",), boot(previous_release="7" * 65)),
    ("boots", ("machine_id",), boot(machine_id="m" * 65)),
    ("boots", ("evidence", 0, "detail"), boot(evidence=[{"source": "kho", "detail": "d" * 1025}])),
    ("boots", ("evidence", 0, "source"), boot(evidence=[{"source": "s" * 33}])),
    ("boots", ("evidence",), boot(evidence=[{"source": "kho"}] * 33)),
    ("boots", ("disagreements", 0), boot(disagreements=["d" * 1025])),
    ("crashes", ("host",), as_crash({"title": "t"}, host="h" * 256)),
    ("crashes", ("title",), as_crash({"title": "t" * 513})),
    ("crashes", ("frame",), as_crash({"title": "t", "frame": "f" * 257})),
    ("crashes", ("report",), as_crash({"title": "t", "report": "r" * (256 * 1024 + 1)})),
    ("crashes", ("alt_titles",), as_crash({"title": "t", "alt_titles": ["a"] * 17})),
]


@pytest.mark.parametrize(
    ("kind", "loc", "record"), LONG_FIELDS, ids=["/".join(map(str, f[1])) for f in LONG_FIELDS]
)
async def test_over_long_field_is_422_naming_it(
    client: httpx.AsyncClient,
    store: Store,
    tokens: Tokens,
    *,
    kind: str,
    loc: tuple[str | int, ...],
    record: dict[str, Any],
) -> None:
    ok = boot(boot_id="b-ok") if kind == "boots" else as_crash({"title": "ok"})
    response = await client.post(
        f"/v1/{kind}", json={kind: [ok, record]}, headers=bearer(tokens.web1)
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", kind, 1, *loc]
    list_field = loc[-1] in ("evidence", "alt_titles")
    assert error["type"] == ("too_long" if list_field else "string_too_long")
    assert transitions(store) == []  # the valid record is not stored either


async def test_fields_at_their_limits_are_stored(
    client: httpx.AsyncClient, store: Store, tokens: Tokens
) -> None:
    record = boot(
        boot_id="b" * 64,
        release="7" * 64,
        machine_id="m" * 64,
        evidence=[{"source": "s" * 32, "detail": "d" * 1024}] * 32,
    )
    response = await client.post("/v1/boots", json={"boots": [record]}, headers=bearer(tokens.web1))
    assert response.status_code == 200
    (stored,) = store.chain("web-1")
    assert (stored.boot_id, len(stored.evidence)) == ("b" * 64, 32)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("how", "warm"),
        ("kexec_count", -1),
        ("kexec_count", 2**32),
        ("hours", -1.0),
        ("boot_id", ""),
    ],
)
async def test_out_of_range_value_is_422(
    client: httpx.AsyncClient, tokens: Tokens, field: str, value: Any
) -> None:
    response = await client.post(
        "/v1/boots", json={"boots": [boot(**{field: value})]}, headers=bearer(tokens.web1)
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "boots", 0, field]


@pytest.mark.parametrize("body", [b"{", b"[]", b'{"boots": null}', b""])
async def test_malformed_body_is_422(
    client: httpx.AsyncClient, tokens: Tokens, body: bytes
) -> None:
    response = await client.post("/v1/boots", content=body, headers=bearer(tokens.web1) | JSON)
    assert response.status_code == 422


@pytest.mark.parametrize("value", [b"NaN", b"Infinity"])
async def test_non_finite_number_is_422(
    client: httpx.AsyncClient, tokens: Tokens, value: bytes
) -> None:
    body = b'{"boots": [{"host": "web-1", "boot_id": "b-1", "release": "7.1", "how": "cold", '
    body += b'"hours": ' + value + b"}]}"
    response = await client.post("/v1/boots", content=body, headers=bearer(tokens.web1) | JSON)
    assert response.status_code == 422


async def test_lone_surrogate_is_422(client: httpx.AsyncClient, tokens: Tokens) -> None:
    body = (
        b'{"boots": [{"host": "web-1", "boot_id": "b-1", "release": "7.1\\udcff", "how": "cold"}]}'
    )
    response = await client.post("/v1/boots", content=body, headers=bearer(tokens.web1) | JSON)
    assert response.status_code == 422


async def test_nul_in_a_field_is_never_a_5xx(client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await client.post(
        "/v1/boots", json={"boots": [boot(release="7.1\x00")]}, headers=bearer(tokens.web1)
    )
    assert response.status_code < 500, response.text


async def test_nul_in_a_field_is_refused_in_words(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await client.post(
        "/v1/boots", json={"boots": [boot(release="7.1\x00")]}, headers=bearer(tokens.web1)
    )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "boots", 0, "release"],
            "msg": "NUL characters are not allowed",
            "type": "string_pattern_mismatch",
        }
    ]


async def test_nul_in_report_is_stored_escaped_on_postgresql(
    postgres_server: PostgresServer,
) -> None:
    # PostgreSQL text cannot hold NUL: the store keeps it as the four characters \x00.
    store = open_store(postgres_server.create_database())
    try:
        token = store.create_token("host", "web-1")
        transport = httpx.ASGITransport(app=create_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
            body = {"crashes": [as_crash({"title": "BUG: x", "report": "a\x00b"})]}
            response = await client.post("/v1/crashes", json=body, headers=bearer(token))
        assert response.status_code == 422  # the API refuses NUL in any field
        assert transitions(store) == []
        store.ingest_crashes([CrashRecord("web-1", "b-1", Crash("BUG: x", report="a\x00b"))])
        with store.engine.connect() as connection:
            reports = connection.execute(sa.select(crashes.c.report)).scalars().all()
        assert reports == ["a\\x00b"]
    finally:
        store.dispose()


# Body shapes: what the real commands print


async def test_boots_accepts_what_status_json_prints(
    client: httpx.AsyncClient, store: Store, tokens: Tokens, statuses: list[dict[str, Any]]
) -> None:
    response = await client.post("/v1/boots", json={"boots": statuses}, headers=bearer(tokens.web1))
    assert response.status_code == 200
    assert response.json() == {"inserted": 3, "updated": 0, "unchanged": 0}
    keys = set(Boot.__dataclass_fields__)
    assert [b.as_dict() for b in store.chain("web-1")] == [
        {k: v for k, v in s.items() if k in keys} for s in statuses
    ]


async def test_status_json_sent_twice_is_stored_once(
    client: httpx.AsyncClient, store: Store, tokens: Tokens, statuses: list[dict[str, Any]]
) -> None:
    for _ in range(2):
        response = await client.post(
            "/v1/boots", json={"boots": statuses[:1]}, headers=bearer(tokens.web1)
        )
    assert response.json() == {"inserted": 0, "updated": 0, "unchanged": 1}
    assert len(store.chain("web-1")) == 1


async def test_richer_status_enriches_the_stored_boot(
    client: httpx.AsyncClient, store: Store, tokens: Tokens, statuses: list[dict[str, Any]]
) -> None:
    full = statuses[1]
    poor = full | {"evidence": full["evidence"][:1], "previous_boot_id": None}
    headers = bearer(tokens.web1)
    assert (await client.post("/v1/boots", json={"boots": [poor]}, headers=headers)).json() == {
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
    }
    response = await client.post("/v1/boots", json={"boots": [full]}, headers=headers)
    assert response.json() == {"inserted": 0, "updated": 1, "unchanged": 0}
    (stored,) = store.chain("web-1")
    assert stored.previous_boot_id == full["previous_boot_id"]
    assert [e.source for e in stored.evidence] == [e["source"] for e in full["evidence"]]


async def test_crashes_accepts_what_crashes_json_prints(
    client: httpx.AsyncClient, store: Store, tokens: Tokens, crash_rows: list[dict[str, Any]]
) -> None:
    (row,) = crash_rows
    body = {"crashes": [as_crash(row)]}
    response = await client.post("/v1/crashes", json=body, headers=bearer(tokens.web1))
    assert response.status_code == 200
    assert response.json() == {"inserted": 1, "updated": 0, "unchanged": 0}
    again = await client.post("/v1/crashes", json=body, headers=bearer(tokens.web1))
    assert again.json() == {"inserted": 0, "updated": 0, "unchanged": 1}
    store.ingest_boots([BootRecord(Boot("web-1", "b-2", "7.1.2", "kexec", "7.1.0", 1))])
    assert transitions(store) == [Transition("7.1.2", "7.1.0", boots=1, crashed_boots=1, crashes=1)]


async def test_crash_from_a_log_with_a_non_utf8_release_is_stored(
    client: httpx.AsyncClient, tokens: Tokens, tmp_path: Path
) -> None:
    log = tmp_path / "console.log"
    write_chain(log)
    log.write_bytes(log.read_bytes().replace(b"Linux version 7.1.2 ", b"Linux version 7.1.2-\xff "))
    (row,) = json.loads(kexec_lineage("crashes", "--json", log))
    # JSON output shows bytes that are not UTF-8 escaped, so the agent can ship them.
    assert row["release"] == "7.1.2-\\xff"
    response = await client.post(
        "/v1/crashes", json={"crashes": [as_crash(row)]}, headers=bearer(tokens.web1)
    )
    assert response.status_code == 200


# Reads


async def test_chain_is_in_boot_order(
    client: httpx.AsyncClient, tokens: Tokens, statuses: list[dict[str, Any]]
) -> None:
    # Sent newest first; the start times put them back in order.
    timed = [s | {"started_at": 1.7e9 + i * 3600} for i, s in enumerate(statuses)]
    headers = bearer(tokens.web1)
    for status in reversed(timed):
        await client.post("/v1/boots", json={"boots": [status]}, headers=headers)
    response = await client.get("/v1/hosts/web-1/chain", headers=bearer(tokens.read))
    assert response.status_code == 200
    chain = response.json()["boots"]
    assert [b["boot_id"] for b in chain] == [s["boot_id"] for s in statuses]
    assert [b["kexec_count"] for b in chain] == [0, 1, 2]
    assert [b["previous_boot_id"] for b in chain[1:]] == [b["boot_id"] for b in chain[:-1]]


async def test_chain_without_start_times_follows_predecessors(
    client: httpx.AsyncClient, tokens: Tokens, statuses: list[dict[str, Any]]
) -> None:
    # What status --json prints has no start time: a boot that arrives before
    # its predecessor (a retry, say) still comes after it in the chain.
    order = [statuses[1], statuses[0], statuses[2]]
    for status in order:
        await client.post("/v1/boots", json={"boots": [status]}, headers=bearer(tokens.web1))
    chain = (await client.get("/v1/hosts/web-1/chain", headers=bearer(tokens.read))).json()
    assert [b["boot_id"] for b in chain["boots"]] == [s["boot_id"] for s in statuses]


async def test_chain_of_unknown_host_is_empty(client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await client.get("/v1/hosts/web-404/chain", headers=bearer(tokens.read))
    assert response.status_code == 200
    assert response.json() == {"boots": []}


async def test_transitions_figures(
    client: httpx.AsyncClient,
    tokens: Tokens,
    statuses: list[dict[str, Any]],
    crash_rows: list[dict[str, Any]],
) -> None:
    headers = bearer(tokens.web1)
    await client.post("/v1/boots", json={"boots": statuses}, headers=headers)
    crash = crash_rows[0]
    crashes = [
        as_crash(crash, boot_id=statuses[1]["boot_id"]),
        as_crash(crash | {"title": "BUG: other"}, boot_id=statuses[1]["boot_id"]),
        as_crash(crash, boot_id=statuses[2]["boot_id"]),
    ]
    await client.post("/v1/crashes", json={"crashes": crashes}, headers=headers)
    response = await client.get("/v1/transitions", headers=bearer(tokens.read))
    assert response.status_code == 200
    figures = {
        (t["previous_release"], t["release"]): (t["boots"], t["crashes"])
        for t in response.json()["transitions"]
    }
    assert figures == {
        (None, "7.1.0"): (1, 0),
        ("7.1.0", "7.1.2"): (1, 2),
        ("7.1.2", "7.1.3"): (1, 1),
    }


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_healthz_is_503_when_the_database_is_gone(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = postgres_server.create_database()
    store = open_store(url)
    try:
        transport = httpx.ASGITransport(app=create_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
            assert (await client.get("/healthz")).status_code == 200
            postgres_server.drop_database(url)
            response = await client.get("/healthz")
    finally:
        store.dispose()
    assert response.status_code == 503
    # The driver's words (the database's address, its name) stay in the collector's log.
    assert response.json() == {"detail": "store unavailable; see the collector's log"}
    assert "store unavailable: reaching the database: " in caplog.text


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_count_what_was_ingested(
    client: httpx.AsyncClient, tokens: Tokens, statuses: list[dict[str, Any]]
) -> None:
    headers = bearer(tokens.web1)
    await client.post("/v1/boots", json={"boots": statuses}, headers=headers)
    await client.post("/v1/boots", json={"boots": statuses[:2]}, headers=headers)
    await client.post("/v1/boots", json={"boots": statuses}, headers=bearer(tokens.web2))
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    got = samples(response.text)

    def records(outcome: str) -> float:
        return got[("kexec_lineage_records_total", (("kind", "boot"), ("outcome", outcome)))]

    assert (records("inserted"), records("updated"), records("unchanged")) == (3, 0, 2)
    key = ("route", "/v1/boots"), ("status", "200")
    assert got[("kexec_lineage_http_requests_total", key)] == 2
    key = ("route", "/v1/boots"), ("status", "403")
    assert got[("kexec_lineage_http_requests_total", key)] == 1
    assert got[("kexec_lineage_http_request_seconds_count", (("route", "/v1/boots"),))] == 3


async def test_openapi_document_names_every_route(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths) == {
        "/v1/boots",
        "/v1/crashes",
        "/v1/hosts/{host}/chain",
        "/v1/transitions",
        "/v1/analysis",
        "/healthz",
        "/metrics",
    }


# End to end: the real processes


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``kexec-lineage serve`` on a free loopback port; its base URL and process."""
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kexec_lineage", "serve", "--db", db_url, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"serve exited {proc.returncode}: {(tmp_path / 'serve.log').read_text()}"
                )
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"serve did not answer: {(tmp_path / 'serve.log').read_text()}")
            time.sleep(0.05)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def token_create(db_url: str, *kind: str) -> str:
    out = kexec_lineage("token", "create", "--db", db_url, *kind)
    return out.splitlines()[-1]


def test_serve_end_to_end(
    db_url: str, served: tuple[str, subprocess.Popen[bytes]], statuses: list[dict[str, Any]]
) -> None:
    base, proc = served
    host_token = token_create(db_url, "--host", "web-1")
    read_token = token_create(db_url, "--read")
    assert host_token.startswith("kl_")
    with httpx.Client(base_url=base, timeout=30) as http:
        response = http.post("/v1/boots", json={"boots": statuses}, headers=bearer(host_token))
        assert response.status_code == 200
        assert response.json() == {"inserted": 3, "updated": 0, "unchanged": 0}
        assert http.post("/v1/boots", json={"boots": statuses}).status_code == 401
        chain = http.get("/v1/hosts/web-1/chain", headers=bearer(read_token)).json()["boots"]
        assert [b["boot_id"] for b in chain] == [s["boot_id"] for s in statuses]
        assert http.get("/v1/hosts/web-1/chain").status_code == 401
    # A 2xx means committed: kill the server outright, the boots are still there.
    proc.kill()
    proc.wait(timeout=15)
    store = open_store(db_url)
    try:
        assert [b.boot_id for b in store.chain("web-1")] == [s["boot_id"] for s in statuses]
    finally:
        store.dispose()
