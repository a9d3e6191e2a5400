"""The dashboard's analysis is computed in the background from the app's start and then
every ``analysis_every`` seconds: no page or API request computes one or waits for one.

The app is the real one over a real store, served by a real uvicorn (in a thread of the
test, so that the app's lifespan starts and stops with it) or as ``kexec-lineage serve``.
Only the count-table read of the analysis is wrapped, to hold or fail it on cue.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from kexec_lineage.errors import StoreError
from kexec_lineage.fleet.store import Store, open_store
from kexec_lineage.fleet.weighing_sql import WeighedTables, weighed_tables
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.wire import BootRecord
from kexec_lineage.server.app import create_app
from tests.collector import free_port
from tests.conftest import REPO

#: Generous for a loaded 2-CPU machine; a request that waited for an analysis held
#: for the whole test would take all of ``HELD``.
FAST = 2.0
HELD = 30.0


class Analyses:
    """The analysis thread's reads of the count tables: counted, and held or failed
    while the test says so."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.released = threading.Event()
        self.released.set()
        self.entered = threading.Event()
        self.failing = False

        def read(store: Store, *args: Any) -> WeighedTables:
            self.calls += 1
            self.entered.set()
            assert self.released.wait(HELD)
            if self.failing:
                raise StoreError("the test made the store fail")
            return weighed_tables(store, *args)

        monkeypatch.setattr("kexec_lineage.server.dashboard.weighed_tables", read)

    def hold(self) -> None:
        self.entered.clear()
        self.released.clear()


@pytest.fixture
def analyses(monkeypatch: pytest.MonkeyPatch) -> Analyses:
    return Analyses(monkeypatch)


def boots(store: Store, n: int) -> None:
    store.ingest_boots(
        [BootRecord(Boot("web-1", f"b-{n}-{i}", "7.1.0", "cold"), hours=1.0) for i in range(3)]
    )


Served = Callable[[float], AbstractContextManager[httpx.Client]]


@pytest.fixture
def served(store: Store) -> Served:
    """The real app over ``store`` on a real uvicorn, analysis every ``s`` seconds; a
    client of it. Leaving the context shuts uvicorn down, lifespan included."""

    @contextlib.contextmanager
    def serve(every: float) -> Iterator[httpx.Client]:
        app = create_app(store, local=True, analysis_every=every)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, name="uvicorn")
        thread.start()
        try:
            until(lambda: server.started, "uvicorn is up")
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=HELD) as http:
                yield http
        finally:
            server.should_exit = True
            thread.join(HELD)
        assert not thread.is_alive()

    return serve


def until(check: Callable[[], bool], what: str, timeout: float = HELD) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.02)


def timed_get(http: httpx.Client, path: str) -> Any:
    start = time.monotonic()
    response = http.get(path)
    assert time.monotonic() - start < FAST, f"GET {path} waited"
    return response


def analysed_boots(http: httpx.Client) -> int | None:
    response = timed_get(http, "/v1/analysis")
    return int(response.json()["boots"]) if response.status_code == 200 else None


def analysis_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "analysis"]


def test_pages_answer_at_once_while_the_first_analysis_is_computed(
    store: Store, analyses: Analyses, served: Served
) -> None:
    boots(store, 1)
    analyses.hold()
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    with served(3600.0) as http:
        assert analyses.entered.wait(HELD), "the app's start starts an analysis"
        page = timed_get(http, "/")
        assert page.status_code == 200
        started = re.search(r"being computed \(started at ([0-9-]+ [0-9:]+) UTC\)", page.text)
        assert started, page.text
        at = datetime.datetime.fromisoformat(started[1]).replace(tzinfo=datetime.UTC)
        assert before <= at <= datetime.datetime.now(datetime.UTC)
        assert "being computed" in timed_get(http, "/transitions").text
        api = timed_get(http, "/v1/analysis")
        assert api.status_code == 503
        assert api.headers["Retry-After"] == "5"
        assert "being computed (started at" in api.json()["detail"]
        analyses.released.set()
        until(lambda: analysed_boots(http) == 3, "the first analysis is served")
        page = timed_get(http, "/")
        assert "Fleet overview" in page.text and "being computed" not in page.text
        assert analyses.calls == 1
    assert analysis_threads() == []


def test_the_analysis_is_refreshed_without_any_request_asking(
    store: Store, analyses: Analyses, served: Served
) -> None:
    boots(store, 1)
    with served(0.1) as http:
        until(lambda: analysed_boots(http) == 3, "the first analysis is served")
        boots(store, 2)
        calls = analyses.calls
        until(lambda: analyses.calls >= calls + 2, "two refreshes, with no request")
        # The first request after them gets the new boots, at once.
        assert analysed_boots(http) == 6
    calls = analyses.calls
    time.sleep(0.5)
    assert analyses.calls == calls, "the lifespan's end stops the refreshes"
    assert analysis_threads() == []


def test_readers_get_the_last_analysis_while_a_refresh_is_held(
    store: Store, analyses: Analyses, served: Served
) -> None:
    boots(store, 1)
    with served(0.1) as http:
        until(lambda: analysed_boots(http) == 3, "the first analysis is served")
        analyses.hold()
        boots(store, 2)
        assert analyses.entered.wait(HELD)
        for _ in range(20):
            assert analysed_boots(http) == 3
            assert timed_get(http, "/").status_code == 200
        analyses.released.set()
        until(lambda: analysed_boots(http) == 6, "the held refresh is served")


def test_a_failed_refresh_keeps_the_last_analysis(
    store: Store,
    analyses: Analyses,
    served: Served,
    caplog: pytest.LogCaptureFixture,
) -> None:
    boots(store, 1)
    with served(0.1) as http:
        until(lambda: analysed_boots(http) == 3, "the first analysis is served")
        analyses.failing = True
        boots(store, 2)
        calls = analyses.calls
        until(lambda: analyses.calls >= calls + 2, "two failed refreshes")
        assert analysed_boots(http) == 3
        assert "analysis not refreshed, serving the last one" in caplog.text
        analyses.failing = False
        until(lambda: analysed_boots(http) == 6, "the thread outlives failures")


def test_a_failed_first_analysis_says_so_and_is_tried_again(
    store: Store, analyses: Analyses, served: Served
) -> None:
    boots(store, 1)
    analyses.failing = True
    with served(0.1) as http:
        until(lambda: "failed (see the collector&#39;s log)" in http.get("/").text, "said")
        assert timed_get(http, "/v1/analysis").status_code == 503
        analyses.failing = False
        until(lambda: analysed_boots(http) == 3, "a later attempt succeeds")


def test_serve_computes_at_start_and_stops_cleanly(tmp_path: Path) -> None:
    """``kexec-lineage serve`` analyses without being asked and, on SIGTERM, ends its
    lifespan (the analysis thread joined) without an error, as uvicorn ends: by the
    signal it was sent, once shut down."""
    db = str(tmp_path / "fleet.db")
    store = open_store(db)
    boots(store, 1)
    store.dispose()
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kexec_lineage", "serve", "--db", db, "--port", str(port),
             "--local", "--analysis-every", "0.2"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:

            def analysed() -> bool:
                try:
                    return http.get("/v1/analysis").status_code == 200
                except httpx.TransportError:
                    return False  # not listening yet

            until(analysed, "serve answers with an analysis")
            assert http.get("/v1/analysis").json()["boots"] == 3
    finally:
        start = time.monotonic()
        proc.terminate()
        proc.wait(HELD)
    assert time.monotonic() - start < 5.0
    assert proc.returncode == -signal.SIGTERM, log.read_text()
    assert "Traceback" not in log.read_text() and "ERROR" not in log.read_text()
