"""The dashboard in Debian's Chromium, driven by Playwright, on a demo dataset."""

from __future__ import annotations

import datetime
import json
import shutil
import time
import urllib.error
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


def analysed(url: str, token: str | None = None, timeout: float = 60.0) -> None:
    """Wait for the collector's first analysis, computed in the background from its start."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url + "/v1/analysis", headers=headers)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=30):
                return
        except urllib.error.HTTPError as error:
            if error.code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="module")
def server(dataset: str) -> Iterator[str]:
    collector = Collector(dataset, local=True)
    collector.start()
    analysed(collector.url)
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
        analysed(collector.url, read)
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


# Charts and freshness


def test_overview_charts_rates_over_time_and_the_evidence(
    server: str, page: tuple[Page, Watch]
) -> None:
    tab, _ = page
    tab.goto(server + "/")
    shot(tab, "overview-charts")
    rates = tab.locator(f"svg[aria-label='{RATES}']")
    assert rates.locator("text.chart-title").text_content() == RATES
    series = rates.locator("g.series")
    labels = [series.nth(i).get_attribute("data-label") for i in range(series.count())]
    assert 1 <= len(labels) <= 5
    assert [t.strip() for t in rates.locator("g.legend text").all_text_contents()] == labels
    releases = {t["release"] for t in api(server, "/v1/transitions")["transitions"]}
    assert set(labels) <= releases
    assert all(int(series.nth(i).get_attribute("data-points") or 0) > 0 for i in range(len(labels)))
    ticks = rates.locator("text.x-tick").all_text_contents()
    assert ticks == sorted(ticks) and all(len(t) == 10 and t[4] == "-" for t in ticks)

    analysis = api(server, "/v1/analysis")
    evidence = tab.locator(f"svg[aria-label='{EVIDENCE}']")
    assert evidence.locator("text.chart-title").text_content() == EVIDENCE
    bars = evidence.locator("g.bar")
    suspects, culprits = analysis["suspects"][:10], analysis["culprits"][:10]
    assert bars.count() == len(suspects) + len(culprits)
    assert evidence.locator("g.bar[data-kind='culprit']").count() == len(culprits)
    top = suspects[0]
    span = top["first_bad_predecessor"]
    if top["last_bad_predecessor"] != span:
        span += ".." + top["last_bad_predecessor"]
    first = bars.first
    assert first.get_attribute("data-label") == f"{top['release']} after {span}"
    assert float(first.get_attribute("data-ratio") or 0) == pytest.approx(top["rate_ratio"], 1e-5)
    assert f"{top['crashes']:,}/{top['boots']:,} vs " in (
        first.locator("text.evidence").text_content() or ""
    )


RATES = "Crashed boots per 1,000 boot-hours, by release and day"
EVIDENCE = "Top suspects and culprits: how much more they crash"
#: The newest day of the dated fleet (UTC days since 1970): 2025-11-08.
NEWEST = 20_400
#: (release, predecessor): first and last day (before NEWEST), boots on each day before
#: the last week and on each day of it, and every how manyth boot crashed.
PLAN = {
    ("7.2.0", "cold"): (30, 0, 20, 20, 50),
    ("7.2.0", "7.0.0"): (30, 0, 10, 10, 50),  # kexecs to compare the suspects' with
    ("7.2.0", "7.1.0"): (30, 10, 10, 10, 3),  # a suspect whose boots stopped 10 days ago
    ("7.3.0", "cold"): (20, 0, 10, 10, 50),
    ("7.3.0", "7.1.0"): (20, 0, 10, 10, 50),
    ("7.3.0", "7.2.0"): (20, 0, 5, 15, 3),  # a suspect still arriving, and growing
}


def day(n: int) -> str:
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=n)).isoformat()


def planned() -> list[tuple[BootRecord, bool]]:
    """The dated fleet's boots, each with whether it crashed, on 40 hosts."""
    out: list[tuple[BootRecord, bool]] = []
    for (release, predecessor), (first, last, per_day, per_day_late, nth) in PLAN.items():
        i = 0
        for d in range(NEWEST - first, NEWEST - last + 1):
            for _ in range(per_day_late if d > NEWEST - 7 else per_day):
                how, previous = ("cold", None) if predecessor == "cold" else ("kexec", predecessor)
                boot = Boot(f"h-{len(out) % 40}", f"{release}-{predecessor}-{i}", release, how,
                            previous, 0 if how == "cold" else 1)  # fmt: skip
                out.append((BootRecord(boot, d * 86400 + 3600.0, 24.0), i % nth == 0))
                i += 1
    # Boots whose start nobody knows: a transition with no day to show.
    out += [
        (BootRecord(Boot("h-0", f"old-{i}", "7.1.0", "cold"), None, 24.0), False) for i in range(5)
    ]
    return out


@pytest.fixture(scope="module")
def dated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A collector over a hand-made fleet whose every day is known (:data:`PLAN`)."""
    db = str(tmp_path_factory.mktemp("dated") / "fleet.db")
    store = open_store(db)
    boots = planned()
    store.ingest_boots([record for record, _ in boots])
    store.ingest_crashes(
        [
            CrashRecord(r.boot.host, r.boot.boot_id, Crash("BUG: bad handover"))
            for r, crashed in boots
            if crashed
        ]
    )
    store.dispose()
    collector = Collector(db, local=True)
    collector.start()
    analysed(collector.url)
    yield collector.url
    collector.stop()


def expected_seen() -> dict[tuple[str, str], tuple[str, str, int, int, bool]]:
    """First and last seen, boots on the last 7 days and the 7 before, growing: counted
    from the plan's boots, as the dashboard must show them."""
    days: dict[tuple[str, str], list[int]] = {}
    for record, _ in planned():
        if record.started_at is not None:
            b = record.boot
            days.setdefault((b.release, b.previous_release or "cold"), []).append(
                int(record.started_at // 86400)
            )
    out = {}
    for key, found in days.items():
        recent = sum(d > NEWEST - 7 for d in found)
        earlier = sum(NEWEST - 14 < d <= NEWEST - 7 for d in found)
        out[key] = (day(min(found)), day(max(found)), recent, earlier, recent > earlier)
    return out


def test_every_transition_shows_first_and_last_seen_and_growth(
    dated: str, page: tuple[Page, Watch]
) -> None:
    tab, _ = page
    expected = expected_seen()
    # The plan's own figures, so that a wrong plan cannot make the test vacuous.
    assert expected[("7.2.0", "7.1.0")] == (day(NEWEST - 30), day(NEWEST - 10), 0, 40, False)
    assert expected[("7.3.0", "7.2.0")] == (day(NEWEST - 20), day(NEWEST), 105, 35, True)
    tab.goto(dated + "/transitions")
    shot(tab, "matrix-dated")
    columns = ("first_seen", "last_seen", "recent_boots", "earlier_boots", "growing")
    for (release, predecessor), want in expected.items():
        row = tab.locator(
            f'tr.transition[data-release="{release}"][data-predecessor="{predecessor}"]'
        )
        shown = tuple(row.locator(f'[data-col="{c}"]').inner_text() for c in columns)
        assert shown == (*want[:2], str(want[2]), str(want[3]), "yes" if want[4] else "no")
    unknown = tab.locator('tr.transition[data-release="7.1.0"][data-predecessor="cold"]')
    assert unknown.locator('[data-col="first_seen"]').inner_text() == "no boot of known day"
    assert tab.locator("tr.transition").count() == len(expected) + 1

    tab.goto(dated + "/transition?release=7.3.0&predecessor=7.2.0")
    assert tab.locator('[data-col="first_seen"]').inner_text() == day(NEWEST - 20)
    assert tab.locator('[data-col="last_seen"]').inner_text() == day(NEWEST)
    assert tab.locator('[data-col="recent_boots"]').inner_text() == "105"
    assert tab.locator('[data-col="growing"]').inner_text() == "yes"

    served = {
        (t["release"], t["predecessor"]): t for t in api(dated, "/v1/transitions")["transitions"]
    }
    for key, want in expected.items():
        got = served[key]
        fields = (got["first_seen"], got["last_seen"], got["recent_boots"], got["earlier_boots"])
        assert (*fields, got["growing"]) == want
    assert served[("7.1.0", "cold")]["first_seen"] is None


def test_no_longer_arriving_marks_only_suspects_whose_boots_stopped(
    dated: str, page: tuple[Page, Watch]
) -> None:
    tab, _ = page
    suspects = {
        (s["release"], s["first_bad_predecessor"]) for s in api(dated, "/v1/analysis")["suspects"]
    }
    assert {("7.2.0", "7.1.0"), ("7.3.0", "7.2.0")} <= suspects
    tab.goto(dated + "/")
    shot(tab, "overview-dated")
    stopped = tab.locator('p.suspect[data-release="7.2.0"][data-predecessor="7.1.0"]')
    assert stopped.locator("span.stopped").inner_text() == "no longer arriving"
    assert stopped.locator('[data-seen="last"]').inner_text() == day(NEWEST - 10)
    arriving = tab.locator('p.suspect[data-release="7.3.0"][data-predecessor="7.2.0"]')
    assert arriving.locator("span.stopped").count() == 0
    assert arriving.locator('[data-seen="growing"]').inner_text() == "growing"
    assert tab.locator("span.stopped").count() == 1
    assert tab.get_by_text("no longer arriving").count() == 1

    tab.goto(dated + "/transition?release=7.2.0&predecessor=7.1.0")
    assert tab.locator("p.suspect span.stopped").count() == 1
    tab.goto(dated + "/transition?release=7.3.0&predecessor=7.2.0")
    assert tab.locator("p.suspect").count() >= 1
    assert tab.locator("span.stopped").count() == 0


def test_rates_over_time_of_a_known_fleet(dated: str, page: tuple[Page, Watch]) -> None:
    tab, _ = page
    per_day: dict[tuple[str, int], list[int]] = {}
    for record, crashed in planned():
        if record.started_at is not None:
            key = (record.boot.release, int(record.started_at // 86400))
            counts = per_day.setdefault(key, [0, 0])
            counts[0] += 1
            counts[1] += crashed
    crashed_of: dict[str, int] = {}
    for (release, _), (_, x) in per_day.items():
        crashed_of[release] = crashed_of.get(release, 0) + x
    tab.goto(dated + "/")
    rates = tab.locator(f"svg[aria-label='{RATES}']")
    assert rates.locator("g.legend text").all_text_contents() == sorted(
        crashed_of, key=lambda r: -crashed_of[r]
    )
    line = rates.locator('g.series[data-label="7.3.0"]')
    assert line.get_attribute("data-points") == "21"
    n, x = per_day[("7.3.0", NEWEST)]
    tip = f"7.3.0 on {day(NEWEST)}: {x:,} crashed boots in {24 * n:,} boot-hours ({n:,} boots)"
    assert tip in line.locator("circle title").all_text_contents()
