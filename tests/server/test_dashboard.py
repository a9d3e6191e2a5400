"""The dashboard in Debian's Chromium, driven by Playwright, on a demo dataset."""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, sync_playwright

from kexec_lineage.fleet.store import open_store
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.crash import Crash
from kexec_lineage.model.wire import BootRecord, CrashRecord
from kexec_lineage.sim.database import write_db
from kexec_lineage.sim.fleet import simulate
from tests.collector import Collector, kexec_lineage
from tests.conftest import REPO

SHOTS = REPO / "build/screenshots"
SCRIPT = "<script>alert('title')</script>"
IMG = '"><img src=x onerror=alert("img")>'
EVIL_HOST = "<img src=x onerror=alert('host')>"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small simulated fleet, plus a host and crash titles that try to run script."""
    db = str(tmp_path_factory.mktemp("dashboard") / "fleet.db")
    store = open_store(db)
    write_db(simulate(800, 40, 1), store)
    boot = Boot(EVIL_HOST, "evil-boot-1", "7.1.2", "kexec", "7.1.0", 1)
    store.ingest_boots([BootRecord(boot)])
    store.ingest_crashes(
        [
            CrashRecord(EVIL_HOST, "evil-boot-1", Crash(f"WARNING in {SCRIPT}", report=SCRIPT)),
            CrashRecord(EVIL_HOST, "evil-boot-1", Crash(f"BUG: {IMG}", report=IMG)),
        ]
    )
    store.dispose()
    return db


@pytest.fixture(scope="module")
def server(dataset: str) -> Iterator[str]:
    collector = Collector(dataset, local=True)
    collector.start()
    yield collector.url
    collector.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is not installed; `make test` installs it")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


class Watch:
    """Every dialog, console error and page error of a page: none may happen."""

    def __init__(self, page: Page) -> None:
        self.events: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.events.append(f"page error: {error}"))

    def _dialog(self, dialog: Dialog) -> None:
        self.events.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.events.append(f"console error: {message.text}")


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Watch]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    watch = Watch(opened)
    yield opened, watch
    context.close()
    assert watch.events == []


def api(server: str, path: str) -> Any:
    with urllib.request.urlopen(server + path, timeout=30) as response:
        return json.load(response)


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def figure(page: Page, name: str) -> int:
    return int(page.locator(f'[data-figure="{name}"]').first.inner_text().replace(",", ""))


def test_overview_figures_equal_the_api(server: str, page: tuple[Page, Watch]) -> None:
    tab, _ = page
    tab.goto(server + "/")
    shot(tab, "overview")
    analysis = api(server, "/v1/analysis")
    assert figure(tab, "boots") == analysis["boots"]
    assert figure(tab, "crashed_boots") == analysis["crashed_boots"]
    shown = [s.strip() for s in tab.locator("p.suspect a").first.all_inner_texts()]
    assert analysis["suspects"], "the demo fleet has suspects"
    assert shown[0] == analysis["suspects"][0]["sentence"]
    assert tab.locator("p.suspect").count() == min(10, len(analysis["suspects"]))


def test_heatmap_cell_to_transition_to_host(server: str, page: tuple[Page, Watch]) -> None:
    tab, _ = page
    suspect = api(server, "/v1/analysis")["suspects"][0]
    release, predecessor = suspect["release"], suspect["first_bad_predecessor"]
    tab.goto(server + "/transitions")
    shot(tab, "matrix")
    cells = tab.locator("a.cell")
    assert cells.count() == len(api(server, "/v1/analysis")["transitions"])
    tab.locator(f'a.cell[data-row="{release}"][data-column="{predecessor}"]').click()
    tab.wait_for_url("**/transition?**")
    shot(tab, "transition")
    assert tab.locator("h1").inner_text() == f"{release} after {predecessor}"
    (expected,) = [
        t
        for t in api(server, "/v1/transitions")["transitions"]
        if t["release"] == release and t["predecessor"] == predecessor
    ]
    assert figure(tab, "boots") == expected["boots"]
    assert figure(tab, "crashes") == expected["crashes"]
    assert tab.locator("svg[aria-label^='predecessor'] circle.point").count() >= 2
    assert tab.locator("text=" + suspect["sentence"]).count() == 1
    host = tab.locator("a.host").first
    name = host.inner_text()
    host.click()
    tab.wait_for_url("**/host/**")
    shot(tab, "host")
    chain = api(server, "/v1/hosts/" + urllib.parse.quote(name, safe="") + "/chain")["boots"]
    rows = tab.locator("table.chain tr.boot")
    assert [rows.nth(i).get_attribute("data-boot") for i in range(rows.count())] == [
        b["boot_id"] for b in chain
    ]
    assert tab.locator("svg[aria-label='boot chain'] g.boot").count() == len(chain)


def test_title_and_search_pages(server: str, page: tuple[Page, Watch]) -> None:
    tab, _ = page
    title = api(server, "/v1/analysis")["suspects"][0]["title"]
    tab.goto(server + "/search?q=" + urllib.parse.quote(title))
    shot(tab, "search")
    tab.locator("ul.titles a").first.click()
    tab.wait_for_url("**/title?**")
    shot(tab, "title")
    assert tab.locator("h1").inner_text() == title
    assert tab.locator("[data-kexec-title]").count() == 1
    assert tab.locator("pre").count() >= 1


def test_attacker_text_shows_as_text_and_runs_nothing(
    server: str, page: tuple[Page, Watch]
) -> None:
    tab, watch = page
    tab.goto(server + "/search?q=" + urllib.parse.quote("<"))
    texts = tab.locator("main").inner_text()
    assert f"WARNING in {SCRIPT}" in texts
    assert f"BUG: {IMG}" in texts
    assert EVIL_HOST in texts
    for link in ("ul.titles a", "ul.hosts a"):
        for i in range(tab.locator(link).count()):
            tab.goto(server + "/search?q=" + urllib.parse.quote("<"))
            tab.locator(link).nth(i).click()
            tab.wait_for_load_state()
            assert tab.locator("img").count() == 0
            assert tab.locator("main script").count() == 0
    tab.goto(server + "/title?t=" + urllib.parse.quote(f"BUG: {IMG}"))
    shot(tab, "hostile-title")
    assert tab.locator("pre").inner_text() == IMG
    tab.goto(server + "/host/" + urllib.parse.quote(EVIL_HOST, safe=""))
    assert tab.locator("h1").inner_text() == f"Host {EVIL_HOST}"
    tab.goto(server + "/transitions")
    assert watch.events == []


def test_pages_need_a_read_token_unless_local(dataset: str) -> None:
    read = kexec_lineage("token", "create", "--db", dataset, "--read").split()[-1]
    host = kexec_lineage("token", "create", "--db", dataset, "--host", "web-1").split()[-1]
    collector = Collector(dataset)
    collector.start()
    try:
        with httpx.Client(base_url=collector.url) as http:
            response = http.get("/")
            assert (response.status_code, response.headers["location"]) == (303, "/login")
            refused = http.post("/login", content=f"token={host}")
            assert "not a read token" in refused.text
            assert http.post("/login", content=f"token={read}").status_code == 303
            assert http.get("/").status_code == 200  # the cookie now opens the pages
        with httpx.Client(base_url=collector.url) as http:  # a bearer header works too
            response = http.get("/", headers={"Authorization": f"Bearer {read}"})
            assert "Fleet overview" in response.text
    finally:
        collector.stop()


def test_demo_command_serves_nothing_with_no_serve(tmp_path: Path) -> None:
    out = kexec_lineage(
        "demo", "--no-serve", "--hosts", "300", "--days", "20", "--db", tmp_path / "demo.db"
    )
    assert "SUSPECT TRANSITIONS" in out
    assert "GROUND TRUTH" in out
