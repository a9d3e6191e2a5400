"""
Request bodies
--------------

The collector reads a body only once the token allowed the request, at most
:data:`MAX_BODY` bytes of it within :data:`BODY_SECONDS`, and parses and
validates it in a worker thread: an unauthenticated client costs a header
lookup, a slow one a bounded wait, and a large valid batch never stalls the
event loop that answers ``/healthz`` and the other clients.

FastAPI would read and parse a body parameter before any dependency ran, so
the write endpoints take the raw request, :func:`read_body` it, and call
:func:`validated` in the worker thread that then stores the records.
"""

from __future__ import annotations

from typing import Any, TypeVar

import anyio
from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from kexec_lineage.server.api_models import NO_NUL

__all__ = ("BODY_SECONDS", "MAX_BODY", "body_schema", "read_body", "validated")

#: Largest request body accepted, in bytes: a full batch of 1,000 records of up
#: to 8 KiB each (a boot with its evidence is about 1 KiB; larger crash batches are
#: halved by ``ship`` on the 413).
MAX_BODY = 8 << 20
#: Time a client has to send its whole body.
BODY_SECONDS = 30.0

Parsed = TypeVar("Parsed")


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body of ``request``, refused past ``limit`` bytes (413) or the app's
    ``state.body_seconds`` (default :data:`BODY_SECONDS`; 408)."""
    seconds = getattr(request.app.state, "body_seconds", BODY_SECONDS)
    chunks: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"request body larger than {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise HTTPException(408, f"request body not sent within {seconds:g} s") from None
    return b"".join(chunks)


def validated(adapter: TypeAdapter[Parsed], raw: bytes) -> Parsed:
    """The body ``raw`` as ``adapter`` validates it (call it off the event loop: a large
    batch takes milliseconds); invalid: 422 naming where."""
    try:
        return adapter.validate_json(raw)
    except ValidationError as exc:
        errors = [_said(e) | {"loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None


def _said(error: Any) -> dict[str, Any]:
    """A validation error, a text refused by the pattern :data:`NO_NUL` said in words."""
    said = dict(error)
    if error["type"] == "string_pattern_mismatch" and error["ctx"]["pattern"] == NO_NUL:
        said["msg"] = "NUL characters are not allowed"
    return said


def body_schema(adapter: TypeAdapter[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON schema of what ``adapter`` validates, for an OpenAPI request body, and
    the schemas it refers to."""
    schema = adapter.json_schema(ref_template="#/components/schemas/{model}")
    return schema, schema.pop("$defs", {})
