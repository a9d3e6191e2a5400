"""The collector under load, each figure against the same request on an idle collector.

1. ``GET /healthz`` while 3 clients without a token post 6 MB bodies in a loop
   (issue 12 saw 14 ms become 12.9 s when bodies were parsed before the token).
2. 60 readers of ``GET /v1/analysis`` and one 1-boot ingest while the analysis of
   a simulated fleet of 6,000 hosts over 60 days is recomputed in the background.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.collector import Collector

from kexec_lineage.fleet.store import open_store
from kexec_lineage.sim.database import write_db
from kexec_lineage.sim.fleet import simulate


def timed(url: str, token: str | None = None, data: bytes | None = None) -> float:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers)
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            response.read()
    except OSError:
        pass  # an answer before the whole body was sent (401) resets the connection
    return time.perf_counter() - start


def ready(url: str, token: str) -> None:
    """Wait out the 503s a collector answers until its first analysis is ready."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    while True:
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                response.read()
                return
        except urllib.error.HTTPError as error:
            if error.code != 503:
                raise
            time.sleep(0.2)


def junk_boot(n: int) -> dict[str, str]:
    return {"host": "x", "boot_id": str(n), "release": "7.1.0", "how": "cold"}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "fleet.db")
        store = open_store(db)
        print("simulating 6,000 hosts over 60 days ...", flush=True)
        write_db(simulate(6000, 60, 3), store)
        read, host = store.create_token("read"), store.create_token("host", "bench")
        store.dispose()
        collector = Collector(db, options=("--analysis-every", "5"))
        collector.start()
        try:
            health = collector.url + "/healthz"
            idle = statistics.median(timed(health) for _ in range(20))
            junk = json.dumps({"boots": [junk_boot(i) for i in range(90_000)]}).encode()
            stop = threading.Event()

            def abuse() -> None:
                while not stop.is_set():
                    timed(collector.url + "/v1/boots", None, junk)

            abusers = [threading.Thread(target=abuse, daemon=True) for _ in range(3)]
            for t in abusers:
                t.start()
            time.sleep(1)
            loaded = statistics.median(timed(health) for _ in range(40))
            stop.set()
            for t in abusers:
                t.join()

            analysis = collector.url + "/v1/analysis"
            ready(analysis, read)  # the first computation, started with the collector

            def one_boot(n: int) -> float:
                boot = {"host": "bench", "boot_id": f"b-{n}", "release": "7.1.0", "how": "cold"}
                body = json.dumps({"boots": [boot]}).encode()
                return timed(collector.url + "/v1/boots", host, body)

            idle_read = statistics.median(timed(analysis, read) for _ in range(5))
            idle_ingest = statistics.median(one_boot(n) for n in range(5))
            time.sleep(6)  # past --analysis-every: a refresh runs in the background
            reads: list[float] = []
            readers = [
                threading.Thread(target=lambda: reads.append(timed(analysis, read)))
                for _ in range(60)
            ]
            for t in readers:
                t.start()
            ingest = one_boot(100)
            for t in readers:
                t.join()
        finally:
            collector.stop()
    print("collector under load (medians; ratios to the same request on an idle collector)")
    print(f"{'':44}{'ms':>9}{'x idle':>9}")
    rows = [
        ("GET /healthz, idle (baseline)", idle, idle),
        ("GET /healthz, 3 tokenless 6 MB posters", loaded, idle),
        ("GET /v1/analysis, idle (baseline)", idle_read, idle_read),
        ("GET /v1/analysis, 60 readers, slowest", max(reads), idle_read),
        ("POST 1 boot, idle (baseline)", idle_ingest, idle_ingest),
        ("POST 1 boot beside 60 readers + refresh", ingest, idle_ingest),
    ]
    for name, seconds, base in rows:
        print(f"{name:44}{seconds * 1000:9.1f}{seconds / base:9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
