"""
Dashboard
---------

HTML pages over the fleet: overview, the transition matrix, a transition, a
crash title, a host's chain, search. Rendered on the server with Jinja2
(autoescaping on: titles and log text are attacker-controlled) and SVG charts
from :mod:`kexec_lineage.server.svg`; nothing is fetched from the network.
Pages need a read token (a bearer header, or ``/login``, which sets a
session cookie: ``Secure`` under TLS, never the token), except under
``serve --local``.
"""

import logging
import math
import secrets
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from kexec_lineage.errors import StoreError
from kexec_lineage.fleet import views
from kexec_lineage.fleet.analysis import Analysis, analyze, rate_interval
from kexec_lineage.fleet.count_queries import count_tables, transitions
from kexec_lineage.fleet.count_table import CountRow, TitleRow
from kexec_lineage.fleet.stats import clopper_pearson
from kexec_lineage.fleet.store import Store, token_digest
from kexec_lineage.model.release import release_key
from kexec_lineage.model.transition import Transition, predecessor_key
from kexec_lineage.server.bodies import read_body
from kexec_lineage.server.svg import HeatCell, Interval, heatmap, intervals, timeline

__all__ = ("AnalysisCache", "Sessions", "add_dashboard")

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
    at: float
    #: ``GET /v1/analysis``'s body, rendered once: its intervals take a second to
    #: compute on a large fleet, which 60 readers must not each pay
    json: bytes = b""


class AnalysisCache:
    """The fleet's analysis, recomputed in a background thread once older than
    ``max_age`` seconds. Readers get the last result at once; only the very
    first waits for one (a page needs something to show). A refresh that fails
    keeps the last result and is tried again at the next read.
    """

    def __init__(self, store: Store, max_age: float = 60.0) -> None:
        self.store = store
        self.max_age = max_age
        self._first = threading.Lock()
        self._lock = threading.Lock()
        self._refreshing = False
        self._value: _Computed | None = None

    def get(self) -> _Computed:
        value = self._value
        if value is None:
            with self._first:
                if self._value is None:
                    self._value = self._compute()
                return self._value
        if time.monotonic() - value.at > self.max_age:
            self._refresh_in_background()
        return value

    def _compute(self) -> _Computed:
        tables = count_tables(self.store)
        analysis = analyze(tables.rows, tables.titles, tables.spread, fact_sets=tables.fact_sets)
        body = JSONResponse(analysis.as_dict()).body
        return _Computed(analysis, tables.rows, tables.titles, time.monotonic(), bytes(body))

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True
        threading.Thread(target=self._refresh, name="analysis refresh", daemon=True).start()

    def _refresh(self) -> None:
        try:
            self._value = self._compute()
        except StoreError as exc:
            _log.warning("analysis not refreshed, serving the last one: %s", exc)
        finally:
            with self._lock:
                self._refreshing = False


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
        "suspects": suspects,
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
        summary = views.summary(store)
        return _page(
            "overview.html",
            title="Fleet overview",
            summary=summary,
            analysis=computed.analysis,
            releases=sorted(summary.releases, key=release_key),
        )

    @app.get("/transitions", response_class=HTMLResponse, include_in_schema=False)
    def matrix(_: View) -> HTMLResponse:
        return _page("matrix.html", title="Transition matrix", chart=_matrix(cache.get().analysis))

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
