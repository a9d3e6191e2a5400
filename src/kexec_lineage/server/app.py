"""
Collector
---------

The HTTP API over the fleet store (FastAPI on uvicorn). Writes are batches,
idempotent, and committed before the 2xx goes out, so an acknowledged record
is never lost and a retried one is never doubled. Bearer tokens: a host token
writes only its own host's records; a read token reads and cannot write.
"""

# No "from __future__ import annotations": FastAPI reads the endpoints'
# annotations at run time, and they name dependencies local to create_app.
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kexec_lineage.errors import StoreError
from kexec_lineage.fleet.count_queries import freshness, transitions
from kexec_lineage.fleet.store import Store, Stored, TokenInfo
from kexec_lineage.model.wire import (
    ANALYSIS_PATH,
    BOOTS_PATH,
    CHAIN_PATH,
    CRASHES_PATH,
    TRANSITIONS_PATH,
)
from kexec_lineage.server.api_models import BOOTS, CRASHES, Body, StoredOut
from kexec_lineage.server.bodies import (
    BODY_SECONDS,
    MAX_BODY,
    body_schema,
    read_body,
    validated,
)
from kexec_lineage.server.claims import Limits, admission
from kexec_lineage.server.dashboard import AnalysisCache, add_dashboard, analysis_response

__all__ = ("MAX_BODY", "SECURITY_HEADERS", "BodyLimit", "Hardening", "RequestMetrics", "create_app")

_bearer = HTTPBearer(auto_error=False)
_log = logging.getLogger("kexec_lineage.collector")


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.records = Counter(
            "kexec_lineage_records_total",
            "Records received, by kind and outcome",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.requests = Counter(
            "kexec_lineage_http_requests_total",
            "HTTP requests, by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "kexec_lineage_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
        )

    def stored(self, kind: str, stored: Stored) -> None:
        for outcome, n in dataclasses.asdict(stored).items():
            self.records.labels(kind, outcome).inc(n)


def create_app(
    store: Store,
    *,
    local: bool = False,
    body_seconds: float = BODY_SECONDS,
    limits: Limits | None = None,
    analysis_every: float = 60.0,
) -> FastAPI:
    """The collector app over ``store``.

    :param local: reads need no token (``serve --local`` binds to loopback only).
    :param body_seconds: how long a client may take to send a request body.
    :param limits: what one host's boots may claim (:mod:`kexec_lineage.server.claims`).
    :param analysis_every: seconds between the analysis's background recomputations,
        the first of which starts with the app (:class:`AnalysisCache`).
    """
    cache = AnalysisCache(store, every=analysis_every)
    app = FastAPI(
        title="kexec-lineage collector",
        version="1",
        description="Boots and crashes of a fleet, and which kexec transitions crash.",
        docs_url=None,
        redoc_url=None,
        lifespan=cache.running,
    )
    app.state.body_seconds = body_seconds
    metrics = _Metrics()

    _install_middleware_and_errors(app, metrics)

    def token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> TokenInfo:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
        info = store.check_token(credentials.credentials)
        if info is None:
            raise HTTPException(401, "unknown token", {"WWW-Authenticate": "Bearer"})
        return info

    # Async, as it reads nothing: FastAPI would hand a plain function to a worker thread.
    async def writer(info: Annotated[TokenInfo, Depends(token)]) -> TokenInfo:
        if info.kind != "host":
            raise HTTPException(403, "a read token cannot write")
        return info

    def reader(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> TokenInfo | None:
        if local:
            return None
        info = token(credentials)
        if info.kind != "read":
            raise HTTPException(403, "reading needs a read token")
        return info

    _add_writes(app, store, metrics, writer, limits or Limits())

    @app.get(CHAIN_PATH)
    def get_chain(
        host: Annotated[str, Path(max_length=255, pattern=r"^[^\x00]+$")],
        _info: Annotated[TokenInfo | None, Depends(reader)],
    ) -> dict[str, Any]:
        """The host's boots in boot order."""
        return {"boots": [b.as_dict() for b in store.chain(host)]}

    @app.get(TRANSITIONS_PATH)
    def get_transitions(_info: Annotated[TokenInfo | None, Depends(reader)]) -> dict[str, Any]:
        """Boots and crashes per (previous release, release), with when each booted:
        ``first_seen`` and ``last_seen`` (UTC days, null where no boot has a known
        start), ``recent_boots`` and ``earlier_boots`` (on the fleet's last
        ``GROWTH_DAYS`` days and the ``GROWTH_DAYS`` before) and ``growing`` (more of
        the first than of the second)."""
        fresh = freshness(store)
        return {
            "transitions": [
                t.as_dict() | fresh.fields(t.release, t.predecessor) for t in transitions(store)
            ]
        }

    _merge_body_schemas(app)
    add_dashboard(app, store, cache, local=local)

    @app.get(ANALYSIS_PATH)
    def get_analysis(_info: Annotated[TokenInfo | None, Depends(reader)]) -> Response:
        """Suspects, depth findings, the naive view and every transition's rates; 503
        with ``Retry-After`` until the first analysis since the start is ready."""
        return analysis_response(cache)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """200 when the store answers."""
        store.ping()
        return {"status": "ok"}

    @app.get("/metrics", response_class=PlainTextResponse)
    def get_metrics() -> Response:
        """Prometheus text exposition."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _own_hosts(info: TokenInfo, hosts: set[str]) -> None:
    foreign = sorted(hosts - {info.host})
    if foreign:
        raise HTTPException(403, f"this token writes only host {info.host}, not {foreign[0]}")


def _add_writes(
    app: FastAPI,
    store: Store,
    metrics: _Metrics,
    writer: Callable[..., Awaitable[TokenInfo]],
    limits: Limits,
) -> None:
    """The write endpoints: a body is read only once ``writer`` let the token write."""

    def store_boots(info: TokenInfo, data: Mapping[str, Any]) -> Stored:
        boots = BOOTS.records(data)
        _own_hosts(info, {b.boot.host for b in boots})
        now = time.time()
        checks = None
        if boots and info.host is not None:
            checks = admission(boots, now, limits)
        return store.ingest_boots(boots, now, checks)

    def store_crashes(info: TokenInfo, data: Mapping[str, Any]) -> Stored:
        crashes = CRASHES.records(data)
        _own_hosts(info, {c.host for c in crashes})
        return store.ingest_crashes(crashes)

    async def write(
        request: Request,
        info: TokenInfo,
        body: Body[Any],
        store_records: Callable[[TokenInfo, Mapping[str, Any]], Stored],
    ) -> StoredOut:
        raw = await read_body(request)
        # One worker thread parses and stores: one hand-over per request, not two.
        stored = await run_in_threadpool(lambda: store_records(info, validated(body.adapter, raw)))
        metrics.stored(body.kind, stored)
        return StoredOut(**dataclasses.asdict(stored))

    @app.post(BOOTS_PATH, response_model=StoredOut, openapi_extra=_request_body(BOOTS))
    async def post_boots(
        request: Request, info: Annotated[TokenInfo, Depends(writer)]
    ) -> StoredOut:
        """Store boots; a boot already stored is merged with the new evidence."""
        return await write(request, info, BOOTS, store_boots)

    @app.post(CRASHES_PATH, response_model=StoredOut, openapi_extra=_request_body(CRASHES))
    async def post_crashes(
        request: Request, info: Annotated[TokenInfo, Depends(writer)]
    ) -> StoredOut:
        """Store crashes; one already stored (same host, boot, fingerprint) is skipped."""
        return await write(request, info, CRASHES, store_crashes)


_BODIES = (BOOTS, CRASHES)


def _request_body(body: Body[Any]) -> dict[str, Any]:
    schema, _ = body_schema(body.adapter)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _merge_body_schemas(app: FastAPI) -> None:
    """Put the models the request bodies refer to into the OpenAPI components."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            defs = plain().setdefault("components", {}).setdefault("schemas", {})
            for body in _BODIES:
                defs.update(body_schema(body.adapter)[1])
        assert app.openapi_schema is not None  # set by the plain call
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class BodyLimit:
    """ASGI middleware: 413 for a body declared (``Content-Length``) over ``limit`` bytes,
    before anything reads it. A body sent without a length is bounded where it is
    read (:func:`~kexec_lineage.server.bodies.read_body`), after the token is checked.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = dict(scope.get("headers") or []).get(b"content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
                too_big = JSONResponse(
                    {"detail": f"request body larger than {self.limit} bytes"}, status_code=413
                )
                await too_big(scope, receive, send)
                return
        await self.app(scope, receive, send)


#: Sent with every answer. Pages are server-rendered with inline SVG and one inline
#: style sheet, and load nothing: so no script, no source but our own, no framing.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _has_nul(scope: Scope) -> bool:
    """A NUL anywhere in the path or the query (raw or %-escaped): no database takes it."""
    query = scope.get("query_string", b"").lower()
    return "\x00" in scope.get("path", "") or b"\x00" in query or b"%00" in query


class Hardening:
    """ASGI middleware: 422 for a NUL in the URL, :data:`SECURITY_HEADERS` on every
    answer. Plain ASGI, as :class:`RequestMetrics` is: Starlette's ``app.middleware``
    passes each request's body through streams of its own, which cost the two of them
    146 ms over 40 requests of 500 boots (``bench.ingest_throughput``'s, 0.84 s in all)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(SECURITY_HEADERS)
            await send(message)

        if _has_nul(scope):
            refusal = JSONResponse(
                {"detail": "NUL characters are not allowed in a URL"}, status_code=422
            )
            await refusal(scope, receive, secured)
            return
        await self.app(scope, receive, secured)


class RequestMetrics:
    """ASGI middleware: each answer counted by route and status, and timed."""

    def __init__(self, app: ASGIApp, metrics: _Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status: list[int] = []

        async def noted(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, receive, noted)
        # The router has put the route it took into the scope.
        path = getattr(scope.get("route"), "path", "unmatched")
        if status:
            self.metrics.requests.labels(path, str(status[0])).inc()
        self.metrics.seconds.labels(path).observe(time.perf_counter() - start)


def _install_middleware_and_errors(app: FastAPI, metrics: _Metrics) -> None:
    # The last added runs first: the metrics see every answer, hardened or refused.
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    app.add_middleware(Hardening)
    app.add_middleware(RequestMetrics, metrics=metrics)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # The default handler echoes the input, which may not even be
        # representable (NaN, lone surrogates): say where and what, not what.
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StoreError)
    async def store_unavailable(_request: Request, exc: StoreError) -> JSONResponse:
        # The driver's words name the database's address and sometimes its user:
        # they go to the collector's log, the client learns only that it failed.
        _log.error("store unavailable: %s", exc)
        return JSONResponse(
            {"detail": "store unavailable; see the collector's log"}, status_code=503
        )
