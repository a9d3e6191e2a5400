"""Fixtures of the collector suites: the real app over a real store (SQLite file or
PostgreSQL database, from :mod:`tests.fleet.conftest`), tokens made by the store, and an
httpx client that talks to the app in-process through ``httpx.ASGITransport``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from kexec_lineage.fleet.store import Store
from kexec_lineage.server.app import create_app
from tests.fleet.conftest import db_url, postgres_server, store

__all__ = (
    "Tokens",
    "anyio_backend",
    "app",
    "bearer",
    "client",
    "db_url",
    "postgres_server",
    "store",
    "tokens",
)


@dataclass(frozen=True)
class Tokens:
    """Bearer tokens of one store: host ``web-1``, host ``web-2``, and a reader."""

    web1: str
    web2: str
    read: str


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def tokens(store: Store) -> Tokens:
    return Tokens(
        store.create_token("host", "web-1"),
        store.create_token("host", "web-2"),
        store.create_token("read"),
    )


@pytest.fixture
def app(store: Store) -> FastAPI:
    return create_app(store)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
        yield client
