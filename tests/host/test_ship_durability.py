"""Shipping while the collector is SIGKILLed again and again: every record stored once."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from kexec_lineage.host.spool import Spool
from tests.collector import Collector, kexec_lineage
from tests.conftest import REPO
from tests.host.test_ship import boot, crash

ROUND = 300  # records spooled before each shipper run
KILLS = 20  # SIGKILLs that must land while a shipper is running
MAX_ROUNDS = 100


def test_collector_killed_at_random_moments(tmp_path: Path) -> None:
    db = str(tmp_path / "fleet.db")
    token = kexec_lineage("token", "create", "--db", db, "--host", "web-1").splitlines()[-1]
    (tmp_path / "token").write_text(token)
    spool = Spool(tmp_path / "state/spool")
    # However many rounds a fast machine needs, its boots are not refused as more than
    # a host sends in a day (a 429 is retried later, past the shipper's time).
    collector = Collector(db, options=("--max-boots-per-host-day", str(MAX_ROUNDS * ROUND)))
    collector.start()
    ship = ["ship", "--to", collector.url, "--token-file", str(tmp_path / "token")]
    ship += ["--state-dir", str(tmp_path / "state"), "--batch", "4", "--backoff-cap", "0.3"]
    rng = random.Random(2026)
    kills = rounds = 0
    outputs: list[str] = []
    try:
        # A fast machine ships a round before many kills land, so run rounds
        # until enough kills have hit a running shipper, however fast it is.
        while kills < KILLS and rounds < MAX_ROUNDS:
            for n in range(rounds * ROUND // 2, (rounds + 1) * ROUND // 2):
                spool.put("boot", boot(n))
                spool.put("crash", crash(n))
            rounds += 1
            shipper = subprocess.Popen(
                [sys.executable, "-m", "kexec_lineage", *ship],
                env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                while shipper.poll() is None:
                    time.sleep(rng.uniform(0.05, 0.3))
                    if shipper.poll() is not None:
                        break
                    collector.kill()
                    kills += 1
                    time.sleep(rng.uniform(0.0, 0.3))
                    collector.start()
                out, _ = shipper.communicate(timeout=300)
            finally:
                if shipper.poll() is None:
                    shipper.kill()
                    shipper.communicate()
            assert shipper.returncode == 0, out
            outputs.append(out.strip())
    finally:
        collector.stop()
    records = rounds * ROUND
    with sqlite3.connect(db) as connection:
        boots = connection.execute("SELECT COUNT(*), COUNT(DISTINCT boot_id) FROM boots").fetchone()
        crashes = connection.execute("SELECT COUNT(*) FROM crashes").fetchone()[0]
    losses = records - boots[1] - crashes
    print(
        f"\ndurability: {kills} SIGKILLs over {rounds} shipper runs, {records} records, "
        f"stored {boots[0]} boots + {crashes} crashes, {losses} lost; last shipper: {outputs[-1]}"
    )
    assert kills >= KILLS, f"only {kills} kills landed in {MAX_ROUNDS} shipper runs"
    assert spool.files() == []
    assert boots == (records // 2, records // 2)
    assert crashes == records // 2
    assert losses == 0
