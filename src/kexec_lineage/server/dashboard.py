"""
Dashboard
---------

HTML pages over the fleet: overview, the transition matrix, a transition, a
crash title, a host's chain, search. Rendered on the server with Jinja2
(autoescaping on: titles and log text are attacker-controlled) and SVG charts
from :mod:`kexec_lineage.server.svg`; nothing is fetched from the network.
The analysis they show is computed in the background (:class:`AnalysisCache`): no
page waits for one.
Pages need a read token (a bearer header, or ``/login``, which sets a
session cookie: ``Secure`` under TLS, never the token), except under
``serve --local``.
"""

import asyncio
import contextlib
import datetime
import logging
import math
import secrets
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from kexec_lineage.errors import StoreError
from kexec_lineage.fleet import views
from kexec_lineage.fleet.analysis import (
    Analysis,
    Suspect,
    analyze,
    format_q,
    rate_interval,
    span,
)
from kexec_lineage.fleet.count_queries import (
    ARRIVING_DAYS,
    GROWTH_DAYS,
    Freshness,
    ReleaseDay,
    Seen,
    day_name,
    freshness_of,
    release_days_of,
    transitions,
)
from kexec_lineage.fleet.count_table import CountRow, TitleRow
from kexec_lineage.fleet.stats import clopper_pearson
from kexec_lineage.fleet.store import Store, token_digest
from kexec_lineage.fleet.weighing_sql import weighed_tables
from kexec_lineage.model.release import release_key
from kexec_lineage.model.transition import Transition, predecessor_key
from kexec_lineage.server.bodies import read_body
from kexec_lineage.server.svg import (
    Bar,
    HeatCell,
    Interval,
    Series,
    day_lines,
    heatmap,
    intervals,
    ratio_bars,
    timeline,
)

__all__ = ("AnalysisCache", "AnalysisPending", "Sessions", "add_dashboard", "analysis_response")

_COOKIE = "kl_session"
_log = logging.getLogger("kexec_lineage.collector")
_templates = Environment(
    loader=PackageLoader("kexec_lineage.server", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


@dataclass
class _Computed:
    analysis: Analysis
    counts: Sequence[CountRow]
    titles: Sequence[TitleRow]
    days: Sequence[ReleaseDay]
    freshness: Freshness
    summary: views.Summary
    #: wall-clock time the computation started: the analysis is of the fleet then
    at: float
    #: ``GET /v1/analysis``'s body, rendered once: its intervals take a second to
    #: compute on a large fleet, which 60 readers must not each pay
    json: bytes = b""


class AnalysisPending(Exception):
    """No analysis is ready yet; the message says since when it is being computed."""


class AnalysisCache:
    """The fleet's analysis, computed in a background thread from the app's start
    and again every ``every`` seconds; no request ever computes one or waits for one.

    Readers get the last result at once (:meth:`get`); before the first is ready
    they get :class:`AnalysisPending`, which pages show as "analysis is being
    computed (started at ...)" with a 200 (an operator opening the dashboard just
    after a restart should see why it is empty, not an error) and
    ``GET /v1/analysis`` answers with a 503 and ``Retry-After`` (an API client's
    retry logic knows that answer; a 200 with another body would be parsed as an
    analysis). A computation that fails keeps the last result, and the next is
    tried ``every`` seconds later. :meth:`running` is the app's lifespan: the
    thread starts with the app and is stopped, and joined, when it shuts down.
    """

    #: ``Retry-After`` (seconds) of a ``GET /v1/analysis`` before the first analysis
    RETRY_AFTER = 5
    #: How long shutting down waits for a computation in progress to end
    STOP_SECONDS = 30.0

    def __init__(self, store: Store, every: float = 60.0) -> None:
        self.store = store
        self.every = every
        self._value: _Computed | None = None
        self._started_at: float | None = None  # of the computation in progress or last tried
        self._failed_at: float | None = None  # start of the last one, where it failed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def get(self) -> _Computed:
        """The last analysis computed.

        :raises AnalysisPending: none is ready yet.
        """
        value = self._value
        if value is None:
            raise AnalysisPending(self._pending())
        return value

    def _pending(self) -> str:
        started, failed = self._started_at, self._failed_at
        if failed is not None:
            return (
                f"The analysis started at {_when(failed)} failed (see the collector's "
                f"log); it is tried again every {self.every:g} s."
            )
        if started is None:
            return "The analysis is being computed (not started yet)."
        return f"The analysis is being computed (started at {_when(started)})."

    def start(self) -> None:
        """Start computing in the background: now, then every ``every`` seconds."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="analysis", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread, waiting for a computation in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.STOP_SECONDS)
            if self._thread.is_alive():
                _log.warning("the analysis did not end within %g s", self.STOP_SECONDS)
            self._thread = None

    @contextlib.asynccontextmanager
    async def running(self, _app: FastAPI) -> AsyncIterator[None]:
        """The app's lifespan: the thread runs while the app serves."""
        self.start()
        try:
            yield
        finally:
            await asyncio.to_thread(self.stop)

    def _run(self) -> None:
        while True:
            self._refresh()
            if self._stop.wait(self.every):
                return

    def _refresh(self) -> None:
        started = self._started_at = time.time()
        try:
            self._value = self._compute(started)
            self._failed_at = None
        except StoreError as exc:
            self._failed_at = started
            _log.warning("analysis not refreshed, serving the last one: %s", exc)
        except Exception:  # a bug on some data must not end the refreshes for good
            self._failed_at = started
            _log.exception("analysis failed, serving the last one")

    def _compute(self, at: float) -> _Computed:
        tables = weighed_tables(self.store)
        analysis = analyze(tables.counts, tables.titles, tables.spread, fact_sets=tables.fact_sets)
        body = JSONResponse(analysis.as_dict()).body
        return _Computed(
            analysis,
            tables.counts.rows,
            tables.titles,
            release_days_of(tables.days),
            freshness_of(tables.days),
            views.summary(self.store, tables.days),
            at,
            bytes(body),
        )


def analysis_response(cache: AnalysisCache) -> Response:
    """``GET /v1/analysis``: the last analysis, or a 503 with ``Retry-After`` before the
    first (see :class:`AnalysisCache`)."""
    try:
        computed = cache.get()
    except AnalysisPending as pending:
        return JSONResponse(
            {"detail": str(pending)},
            status_code=503,
            headers={"Retry-After": str(AnalysisCache.RETRY_AFTER)},
        )
    return Response(computed.json, media_type="application/json")


def _when(at: float) -> str:
    """A wall-clock time as the pages show it (UTC, to the second)."""
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _page(name: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(name).render(**context))


def _link(path: str, **query: str) -> str:
    return f"{path}?{urllib.parse.urlencode(query)}"


def _ratio(x: float, e: float, y: float, f: float) -> float:
    if e <= 0 or f <= 0:
        return 1.0
    if y == 0:
        return math.inf if x else 1.0
    return (x / e) / (y / f)


def _matrix(analysis: Analysis) -> Any:
    of_release: dict[str, list[Transition]] = {}
    for t in analysis.transitions:
        of_release.setdefault(t.release, []).append(t)
    rows = sorted(of_release, key=release_key)
    columns = sorted({t.predecessor for t in analysis.transitions}, key=predecessor_key)
    cells = []
    for release, same_release in of_release.items():
        hours = sum(t.boot_hours for t in same_release) > 0
        total_x = sum(t.crashed_boots for t in same_release)
        total_e = sum(t.boot_hours if hours else t.boots for t in same_release)
        for t in same_release:
            exposure = t.boot_hours if hours else t.boots
            ratio = _ratio(t.crashed_boots, exposure, total_x - t.crashed_boots, total_e - exposure)
            cells.append(
                HeatCell(
                    release,
                    t.predecessor,
                    ratio,
                    t.boots,
                    _link("/transition", release=release, predecessor=t.predecessor),
                    f"{release} after {t.predecessor}: {t.crashed_boots}/{t.boots} boots "
                    f"crashed, {ratio:.2f}x the release's other predecessors",
                )
            )
    return heatmap(rows, columns, cells)


#: Releases drawn in the overview's rates over time: more lines would not be told apart.
TOP_RELEASES = 5
#: Suspects and culprits in the overview's evidence chart, as many as it lists.
TOP_FINDINGS = 10


def _rates_chart(days: Sequence[ReleaseDay]) -> Markup | None:
    """Crashed boots per 1,000 boot-hours by day, a line for each of the
    :data:`TOP_RELEASES` releases with the most crashed boots (where crashes are);
    ``None`` where no day has boot-hours to divide by."""
    known = [d for d in days if d.hours > 0]
    crashed: dict[str, int] = {}
    for d in known:
        crashed[d.release] = crashed.get(d.release, 0) + d.crashed_boots
    top = sorted(crashed, key=lambda r: (-crashed[r], release_key(r)))[:TOP_RELEASES]
    series = [
        Series(
            release,
            [
                (
                    d.day,
                    1000 * d.crashed_boots / d.hours,
                    f"{release} on {day_name(d.day)}: {d.crashed_boots:,} crashed boots "
                    f"in {d.hours:,.0f} boot-hours ({d.boots:,} boots)",
                )
                for d in known
                if d.release == release
            ],
        )
        for release in top
    ]
    if not series:
        return None
    return day_lines(
        series,
        "Crashed boots per 1,000 boot-hours, by release and day",
        "crashed boots / 1,000 boot-hours",
        day_name,
    )


def _evidence(crashes: int, boots: int, others: int, other_boots: int, q: float) -> str:
    return f"{crashes:,}/{boots:,} vs {others:,}/{other_boots:,} boots crashed, q{format_q(q)}"


def _evidence_chart(analysis: Analysis) -> Markup | None:
    """The top suspects and culprits as rate-ratio bars labelled with their counts;
    ``None`` where there are none."""
    bars = [
        Bar(
            f"{s.release} after {span(s.predecessors)}",
            s.rate_ratio,
            _evidence(s.crashes, s.boots, s.other_crashes, s.other_boots, s.q),
            "suspect",
            _link("/transition", release=s.release, predecessor=s.first_bad_predecessor),
        )
        for s in analysis.suspects[:TOP_FINDINGS]
    ] + [
        Bar(
            f"culprit: kexec from {c.predecessor}",
            c.rate_ratio,
            _evidence(c.crashes, c.boots, c.other_crashes, c.other_boots, c.q),
            "culprit",
        )
        for c in analysis.culprits[:TOP_FINDINGS]
    ]
    if not bars:
        return None
    return ratio_bars(bars, "Top suspects and culprits: how much more they crash")


@dataclass(frozen=True, slots=True)
class _Finding:
    """A suspect as the pages list it: with when its bad predecessors' boots came."""

    suspect: Suspect
    seen: Seen | None
    arriving: bool


def _findings(computed: _Computed, suspects: Sequence[Suspect]) -> list[_Finding]:
    fresh = computed.freshness
    return [
        _Finding(s, fresh.of(s.release, s.predecessors), fresh.arriving(s.release, s.predecessors))
        for s in suspects
    ]


def _dated(computed: _Computed) -> list[tuple[Transition, Seen | None, str]]:
    """Every transition of the analysis, with when it booted and its page's link."""
    seen = computed.freshness.seen
    return [
        (
            t,
            seen.get((t.release, t.predecessor)),
            _link("/transition", release=t.release, predecessor=t.predecessor),
        )
        for t in computed.analysis.transitions  # (in release, then predecessor order)
    ]


def _transition(
    store: Store, computed: _Computed, release: str, predecessor: str
) -> dict[str, Any]:
    """What the transition page shows."""
    analysis = computed.analysis
    of_release = [t for t in analysis.transitions if t.release == release]
    cell = next((t for t in of_release if t.predecessor == predecessor), None)
    if cell is None:
        raise HTTPException(404, f"no boots of {release} after {predecessor}")
    suspects = [s for s in analysis.suspects if s.release == release]
    bad = {p for s in suspects for p in s.predecessors}
    points = [
        Interval(
            t.predecessor,
            t.rate,
            *rate_interval(t),
            t.predecessor in bad or t.predecessor == predecessor,
            _link("/transition", release=release, predecessor=t.predecessor),
        )
        for t in sorted(of_release, key=lambda t: predecessor_key(t.predecessor))
    ]
    by_depth: dict[int, list[int]] = {}
    for row in computed.counts:
        if row.release == release and row.how != "kdump":
            bucket = by_depth.setdefault(row.depth, [0, 0])
            bucket[0] += row.crashed_boots
            bucket[1] += row.boots
    depth_points = [
        Interval(f"{d}+" if d >= 3 else str(d), x / n, *clopper_pearson(x, n))
        for d, (x, n) in sorted(by_depth.items())
        if n
    ]
    depth_finding = next((d for d in analysis.depth if d.release == release), None)
    stored = next(
        (t for t in transitions(store, release) if t.predecessor == predecessor),
        Transition(release, predecessor, 0),
    )
    titles = sorted(
        (t for t in computed.titles if t.release == release and (t.predecessor == predecessor)),
        key=lambda t: -t.crashed_boots,
    )
    return {
        "title": f"{release} after {predecessor}",
        "release": release,
        "cell": cell,
        "interval": rate_interval(cell),
        "stored": stored,
        "seen": computed.freshness.seen.get((release, predecessor)),
        "growth_days": GROWTH_DAYS,
        "suspects": _findings(computed, suspects),
        "depth_finding": depth_finding,
        "bisection": intervals(points, "predecessor (crashed share of boots, 95% CI)"),
        "depth": intervals(depth_points, "kexec count (crashed share of boots, 95% CI)"),
        "titles": titles,
        "hosts": views.transition_hosts(store, release, predecessor),
    }


class Sessions:
    """Signed-in browsers: a random session id in the cookie, never the token itself,
    so a cookie that leaks (a proxy log, a shared machine) is not a credential
    beyond its lifetime and dies with the token's revocation or a restart."""

    LIFETIME = 12 * 3600.0
    MAX = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[str, float]] = {}

    def open(self, digest: str) -> str:
        """A new session for the token of ``digest``."""
        session = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            if len(self._open) >= self.MAX:
                self._open = {k: v for k, v in self._open.items() if v[1] > now}
                while len(self._open) >= self.MAX:
                    del self._open[next(iter(self._open))]  # the oldest
            self._open[session] = (digest, now + self.LIFETIME)
        return session

    def token_of(self, session: str) -> str | None:
        """The token digest of a live ``session``, else ``None``."""
        with self._lock:
            found = self._open.get(session)
        return found[0] if found is not None and found[1] > time.monotonic() else None


def add_dashboard(app: FastAPI, store: Store, cache: AnalysisCache, *, local: bool) -> None:
    """Register the dashboard's pages on ``app``."""

    sessions = Sessions()

    def reads(digest: str | None) -> bool:
        # A session's token is asked again at every page: a revoked one ends it.
        info = store.check_token_digest(digest) if digest else None
        return info is not None and info.kind == "read"

    def viewer(request: Request) -> None:
        if local:
            return
        header = request.headers.get("authorization", "")
        digest: str | None
        if header.lower().startswith("bearer "):
            digest = token_digest(header[7:])
        else:
            digest = sessions.token_of(request.cookies.get(_COOKIE, ""))
        if not reads(digest):
            raise HTTPException(303, "sign in with a read token", {"Location": "/login"})

    View = Annotated[None, Depends(viewer)]

    @app.exception_handler(AnalysisPending)
    async def pending(_request: Request, exc: AnalysisPending) -> HTMLResponse:
        return _page("pending.html", title="Analysis being computed", message=str(exc))

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form() -> HTMLResponse:
        return _page("login.html", title="Sign in", error=None)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = urllib.parse.parse_qs((await read_body(request, 4096)).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0].strip()
        if not token or not reads(token_digest(token)):
            return _page("login.html", title="Sign in", error="not a read token")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            _COOKIE,
            sessions.open(token_digest(token)),
            max_age=int(Sessions.LIFETIME),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview(_: View) -> HTMLResponse:
        computed = cache.get()
        summary = computed.summary
        return _page(
            "overview.html",
            title="Fleet overview",
            summary=summary,
            analysis=computed.analysis,
            computed_at=_when(computed.at),
            findings=_findings(computed, computed.analysis.suspects[:TOP_FINDINGS]),
            arriving_days=ARRIVING_DAYS,
            rates=_rates_chart(computed.days),
            evidence=_evidence_chart(computed.analysis),
            releases=sorted(summary.releases, key=release_key),
        )

    @app.get("/transitions", response_class=HTMLResponse, include_in_schema=False)
    def matrix(_: View) -> HTMLResponse:
        computed = cache.get()
        return _page(
            "matrix.html",
            title="Transition matrix",
            chart=_matrix(computed.analysis),
            transitions=_dated(computed),
            growth_days=GROWTH_DAYS,
        )

    @app.get("/transition", response_class=HTMLResponse, include_in_schema=False)
    def transition(
        _: View,
        release: Annotated[str, Query(max_length=64)],
        predecessor: Annotated[str, Query(max_length=64)],
    ) -> HTMLResponse:
        return _page("transition.html", **_transition(store, cache.get(), release, predecessor))

    @app.get("/title", response_class=HTMLResponse, include_in_schema=False)
    def title_page(_: View, t: Annotated[str, Query(max_length=512)]) -> HTMLResponse:
        computed = cache.get()
        rows = sorted(
            (r for r in computed.titles if r.title == t),
            key=lambda r: (release_key(r.release), release_key(r.predecessor)),
        )
        tested = next((k for k in computed.analysis.kexec_titles if k.title == t), None)
        return _page(
            "title.html",
            title=t,
            rows=rows,
            kexec_title=tested,
            samples=views.title_samples(store, t),
        )

    @app.get("/host/{name}", response_class=HTMLResponse, include_in_schema=False)
    def host_page(_: View, name: str) -> HTMLResponse:
        chain = store.chain(name)
        if not chain:
            raise HTTPException(404, f"no boots of host {name}")
        crashes = views.host_crashes(store, name)
        chart = timeline(
            [(b.boot_id, b.release, b.how, len(crashes.get(b.boot_id, []))) for b in chain]
        )
        return _page("host.html", title=f"Host {name}", boots=chain, crashes=crashes, chart=chart)

    @app.get("/search", response_class=HTMLResponse, include_in_schema=False)
    def search_page(_: View, q: Annotated[str, Query(max_length=255)] = "") -> HTMLResponse:
        return _page("search.html", title=f"Search: {q}", query=q, found=views.search(store, q))
