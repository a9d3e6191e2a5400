"""
Shipping
--------

Sends the spool to the collector in batches and deletes a record only once the
collector acknowledged it with a 2xx, which it sends only after committing.
What each other answer means:

- 400 or 422 that names records of the batch (the collector's validation
  errors point into the body): those records are refused for their content
  and moved to ``rejected/``; the rest is sent again. A 413 halves the batch.
- 401/403: the token is wrong; 3xx and any other 4xx (a wrong ``--to``, a
  proxy in the way): the configuration is wrong. Shipping stops with one line
  and the spool is kept. Redirects are never followed: the token would go
  wherever a redirect points.
- 5xx, 408/425/429, refused or broken connections: transient. Retried with
  exponential backoff and full jitter until ``max_seconds``; the spool is kept.

A spool file that is not a record (torn, empty, not JSON, unknown kind) is
moved to ``damaged/`` with a note beside it, so that it neither blocks nor is
read again. One shipper at a time per spool (a lock file). Standard library
only: this runs on every host.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kexec_lineage.errors import InputError
from kexec_lineage.host.spool import Spool
from kexec_lineage.model.wire import BOOTS_PATH, CRASHES_PATH, SHIP_BATCH

__all__ = ("Backoff", "ShipResult", "ship")

_ENDPOINTS = {"boot": (BOOTS_PATH, "boots"), "crash": (CRASHES_PATH, "crashes")}
_RETRY_STATUSES = (408, 425, 429)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: sleep uniform(0, min(cap, base * 2**n))."""

    base: float = 0.5
    cap: float = 60.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * 2 ** min(attempt, 30)))


@dataclass(frozen=True, slots=True)
class ShipResult:
    sent: int
    rejected: int
    left: int
    attempts: int


class _Retry(Exception):
    pass


@contextmanager
def _one_shipper(spool: Spool) -> Iterator[None]:
    try:
        spool.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(spool.directory / "ship.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(f"cannot use spool {spool.directory}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"another 'kexec-lineage ship' is sending {spool.directory}") from None
        yield
    finally:
        os.close(fd)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Turn every redirect into the :class:`~urllib.error.HTTPError` it came as."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _opener(url: str, ca_file: Path | None) -> urllib.request.OpenerDirector:
    """HTTP(S) without redirects; certificates checked against ``ca_file`` or the system's.

    :mod:`ssl` is loaded only for HTTPS: plain HTTP to a collector on loopback works on
    a Python built without OpenSSL.
    """
    if not url.startswith("https:") and ca_file is None:
        return urllib.request.build_opener(_NoRedirect)
    try:
        import ssl
    except ImportError:
        raise InputError("this Python has no TLS (no ssl module): cannot reach " + url) from None
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise InputError(f"{ca_file}: not a CA certificate file: {exc}") from None
    return urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=context))


def _post(
    opener: urllib.request.OpenerDirector, url: str, token: str, body: bytes, timeout: float
) -> None:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code in _RETRY_STATUSES:
            exc.close()
            raise _Retry(f"HTTP {exc.code}") from None
        raise
    except urllib.error.URLError as exc:
        ssl = sys.modules.get("ssl")  # loaded if the URL is https
        if ssl is not None and isinstance(exc.reason, ssl.SSLCertVerificationError):
            # Not transient: the collector is not who it says, or its CA is not given.
            raise InputError(
                f"{url}: the collector's certificate is not trusted "
                f"({exc.reason.verify_message}); give its CA with --ca-file; the spool is kept"
            ) from None
        raise _Retry(f"{type(exc).__name__}: {exc}") from None
    except (OSError, http.client.HTTPException) as exc:
        # Refused, reset, timed out, or cut off mid-answer (a collector killed
        # while replying): sending again is safe, ingest is idempotent.
        raise _Retry(f"{type(exc).__name__}: {exc}") from None


def _named(exc: urllib.error.HTTPError, key: str, size: int) -> set[int]:
    """The records of the batch that a 400/422 answer names (``loc: [body, key, i, ...]``)."""
    try:
        detail = json.loads(exc.read(1 << 20)).get("detail")
    except (OSError, ValueError, AttributeError, http.client.HTTPException):
        return set()
    named = set()
    for error in detail if isinstance(detail, list) else ():
        loc = error.get("loc") if isinstance(error, dict) else None
        if (
            isinstance(loc, list)
            and loc[:2] == ["body", key]
            and len(loc) > 2
            and isinstance(loc[2], int)
            and 0 <= loc[2] < size
        ):
            named.add(loc[2])
    return named


def _misconfigured(url: str, exc: urllib.error.HTTPError) -> InputError:
    if exc.code in (401, 403):
        return InputError(f"the collector refused the token: HTTP {exc.code}; the spool is kept")
    if 300 <= exc.code < 400:
        where = exc.headers.get("Location", "?") if exc.headers else "?"
        return InputError(
            f"{url} answered HTTP {exc.code}, a redirect to {where}: redirects are not "
            "followed (the token would go along); give the collector's own URL to --to; "
            "the spool is kept"
        )
    return InputError(
        f"{url} answered HTTP {exc.code}: not a kexec-lineage collector's answer "
        "(is --to the collector's base URL?); the spool is kept"
    )


def _batches(spool: Spool, size: int) -> Iterator[tuple[str, list[tuple[Path, Any]]]]:
    """Batches of one kind each, taking the spool oldest first."""
    pending: dict[str, list[tuple[Path, Any]]] = {}
    for path in spool.files():
        try:
            item = json.loads(path.read_bytes())
            kind, record = item["kind"], item["record"]
            if kind not in _ENDPOINTS or not isinstance(record, dict):
                raise ValueError(f"not a boot or crash record (kind {kind!r})")
        except OSError:
            continue  # gone meanwhile (bounded, or shipped), or unreadable: not ours to judge
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            spool.quarantine(path, f"{type(exc).__name__}: {exc}")
            continue
        batch = pending.setdefault(kind, [])
        batch.append((path, record))
        if len(batch) == size:
            yield kind, pending.pop(kind)
    yield from pending.items()


def ship(
    spool: Spool,
    url: str,
    token: str,
    *,
    batch_size: int = SHIP_BATCH,
    max_seconds: float = 600.0,
    backoff: Backoff = Backoff(),
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    ca_file: Path | None = None,
) -> ShipResult:
    """Send every spooled record, retrying for up to ``max_seconds``.

    What is not acknowledged by then stays in the spool for the next run.
    """
    rng = rng or random.Random()
    opener = _opener(url, ca_file)
    base = url.rstrip("/")
    deadline = clock() + max_seconds
    sent = rejected = attempts = 0
    with _one_shipper(spool):
        for kind, first in _batches(spool, batch_size):
            path, key = _ENDPOINTS[kind]
            pending = [first]
            while pending:
                batch = pending.pop(0)
                body = json.dumps({key: [record for _, record in batch]}).encode()
                failures = 0
                while True:
                    attempts += 1
                    try:
                        _post(opener, base + path, token, body, timeout)
                    except _Retry:
                        failures += 1
                        delay = backoff.delay(failures, rng)
                        if clock() + delay > deadline:
                            return ShipResult(sent, rejected, len(spool.files()), attempts)
                        sleep(delay)
                        continue
                    except urllib.error.HTTPError as exc:
                        with exc:  # its connection, once the answer is read
                            refused = _refused(exc, key, len(batch))
                        if refused is None:
                            raise _misconfigured(base + path, exc) from None
                        if not refused:
                            half = len(batch) // 2  # 413 for a batch: send it in halves
                            pending[:0] = [batch[:half], batch[half:]]
                        else:
                            rejected += _reject(spool, [batch[i] for i in sorted(refused)])
                            rest = [r for i, r in enumerate(batch) if i not in refused]
                            if rest:
                                pending.insert(0, rest)
                        break
                    for file, _ in batch:
                        file.unlink(missing_ok=True)
                    sent += len(batch)
                    break
    return ShipResult(sent, rejected, len(spool.files()), attempts)


def _refused(exc: urllib.error.HTTPError, key: str, size: int) -> set[int] | None:
    """Which records an error answer refuses for their content: ``None`` if it is not
    about content, an empty set if the batch must be halved to find them."""
    if exc.code == 413:
        # No one record is larger than the collector takes (the API's field
        # limits): a 413 for one comes from something in front of it.
        return set() if size > 1 else None
    if exc.code in (400, 422):
        return _named(exc, key, size) or None
    return None


def _reject(spool: Spool, records: list[tuple[Path, Any]]) -> int:
    folder = spool.directory / "rejected"
    try:
        folder.mkdir(exist_ok=True)
        for path, _ in records:
            path.replace(folder / path.name)
    except OSError as exc:
        raise InputError(f"cannot move refused records to {folder}: {exc.strerror}") from None
    return len(records)
