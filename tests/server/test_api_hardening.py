"""The collector against a careless operator and a hostile client: names that cannot be
reached, NULs in URLs, revoked tokens, and the headers every answer carries."""

from __future__ import annotations

import time

import httpx
import pytest
import sqlalchemy as sa

from kexec_lineage.errors import StoreError
from kexec_lineage.fleet.schema import tokens as tokens_table
from kexec_lineage.fleet.store import Store, token_digest
from kexec_lineage.server.app import SECURITY_HEADERS, create_app
from tests.fleet.conftest import free_port
from tests.server.conftest import Tokens, bearer
from tests.server.test_api import boot

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("name", ["rack1/web-1", "..", "."])
async def test_a_host_name_that_cannot_be_routed_is_refused(
    client: httpx.AsyncClient, store: Store, name: str
) -> None:
    with pytest.raises(StoreError, match="one path segment"):
        store.create_token("host", name)
    # A token made for such a name before (an older collector) still cannot store it.
    token = "kl_" + "d" * 43
    with store.transaction("test") as connection:
        connection.execute(
            tokens_table.insert(),
            [
                {
                    "digest": token_digest(token),
                    "kind": "host",
                    "host": name,
                    "created_at": time.time(),
                }
            ],
        )
    response = await client.post("/v1/boots", json={"boots": [boot(name)]}, headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "boots", 0, "host"]


@pytest.mark.parametrize(
    "url",
    [
        "/search?q=a%00b",
        "/title?t=%00",
        "/transition?release=7.1%00&predecessor=7.0",
        "/v1/hosts/a%00b/chain",
        "/host/a%00b",
    ],
)
async def test_a_nul_in_the_url_is_422_on_every_database(
    client: httpx.AsyncClient, tokens: Tokens, url: str
) -> None:
    response = await client.get(url, headers=bearer(tokens.read))
    assert response.status_code == 422
    assert response.json() == {"detail": "NUL characters are not allowed in a URL"}


@pytest.mark.parametrize("url", ["/", "/login", "/v1/analysis", "/healthz", "/nowhere"])
async def test_every_answer_carries_the_security_headers(
    client: httpx.AsyncClient, tokens: Tokens, url: str
) -> None:
    response = await client.get(url, headers=bearer(tokens.read))
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src" not in csp


async def test_a_revoked_token_is_refused_at_its_next_request(
    client: httpx.AsyncClient, store: Store, tokens: Tokens
) -> None:
    body = {"boots": [boot("web-1", "b-revoked")]}
    assert (
        await client.post("/v1/boots", json=body, headers=bearer(tokens.web1))
    ).status_code == 200
    assert store.revoke_tokens(host="web-1") == 1
    response = await client.post("/v1/boots", json=body, headers=bearer(tokens.web1))
    assert response.status_code == 401
    assert (
        await client.post("/v1/boots", json={"boots": [boot("web-2")]}, headers=bearer(tokens.web2))
    ).status_code == 200


async def test_a_503_does_not_show_where_the_database_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    engine = sa.create_engine(f"postgresql+psycopg://fleetuser@127.0.0.1:{port}/fleetdb")
    transport = httpx.ASGITransport(app=create_app(Store(engine)))
    async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    for secret in (str(port), "fleetuser", "fleetdb", "127.0.0.1"):
        assert secret not in response.text
    assert str(port) in caplog.text  # the operator still learns what failed
