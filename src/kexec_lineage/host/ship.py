"""
Shipping
--------

Sends the spool to the collector in batches and deletes a record only once the
collector acknowledged it with a 2xx, which it sends only after committing.
Failures are retried with exponential backoff and full jitter; one shipper at
a time per spool (a lock file). A record the collector refuses for good (a
4xx other than 408/429) is moved to ``rejected/`` rather than retried
forever. Standard library only: this runs on every host.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import random
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
from kexec_lineage.model.wire import BOOTS_PATH, CRASHES_PATH

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
    spool.directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(spool.directory / "ship.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"another 'kexec-lineage ship' is sending {spool.directory}") from None
        yield
    finally:
        os.close(fd)


def _post(url: str, token: str, body: bytes, timeout: float) -> None:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code in _RETRY_STATUSES:
            raise _Retry(f"HTTP {exc.code}") from None
        raise
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        # Refused, reset, timed out, or cut off mid-answer (a collector killed
        # while replying): sending again is safe, ingest is idempotent.
        raise _Retry(f"{type(exc).__name__}: {exc}") from None


def _batches(spool: Spool, size: int) -> Iterator[tuple[str, list[tuple[Path, Any]]]]:
    """Batches of one kind each, taking the spool oldest first."""
    pending: dict[str, list[tuple[Path, Any]]] = {}
    for path in spool.files():
        try:
            item = json.loads(path.read_text(encoding="utf-8"))
            kind, record = item["kind"], item["record"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # vanished or damaged; never blocks the rest
        if kind not in _ENDPOINTS:
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
    batch_size: int = 500,
    max_seconds: float = 600.0,
    backoff: Backoff = Backoff(),
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> ShipResult:
    """Send every spooled record, retrying for up to ``max_seconds``.

    What is not acknowledged by then stays in the spool for the next run.
    """
    rng = rng or random.Random()
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
                        _post(base + path, token, body, timeout)
                    except _Retry:
                        failures += 1
                        delay = backoff.delay(failures, rng)
                        if clock() + delay > deadline:
                            return ShipResult(sent, rejected, len(spool.files()), attempts)
                        sleep(delay)
                        continue
                    except urllib.error.HTTPError as exc:
                        if len(batch) > 1 and exc.code not in (401, 403):
                            # Find the records it refuses: halve the batch.
                            half = len(batch) // 2
                            pending[:0] = [batch[:half], batch[half:]]
                        else:
                            rejected += _reject(spool, batch, exc)
                        break
                    for file, _ in batch:
                        file.unlink(missing_ok=True)
                    sent += len(batch)
                    break
    return ShipResult(sent, rejected, len(spool.files()), attempts)


def _reject(spool: Spool, batch: list[tuple[Path, Any]], exc: urllib.error.HTTPError) -> int:
    if exc.code in (401, 403):
        raise InputError(f"the collector refused the token: HTTP {exc.code}") from None
    folder = spool.directory / "rejected"
    folder.mkdir(exist_ok=True)
    for path, _ in batch:
        path.replace(folder / path.name)
    return len(batch)
