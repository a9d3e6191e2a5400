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

RECORDS = 3000
KILLS = 20


def test_collector_killed_at_random_moments(tmp_path: Path) -> None:
    db = str(tmp_path / "fleet.db")
    token = kexec_lineage("token", "create", "--db", db, "--host", "web-1").splitlines()[-1]
    (tmp_path / "token").write_text(token)
    spool = Spool(tmp_path / "state/spool")
    for n in range(RECORDS // 2):
        spool.put("boot", boot(n))
        spool.put("crash", crash(n))
    collector = Collector(db)
    collector.start()
    ship = ["ship", "--to", collector.url, "--token-file", str(tmp_path / "token")]
    ship += ["--state-dir", str(tmp_path / "state"), "--batch", "4", "--backoff-cap", "0.3"]
    shipper = subprocess.Popen(
        [sys.executable, "-m", "kexec_lineage", *ship],
        env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
        stdout=subprocess.PIPE,
        text=True,
    )
    rng = random.Random(2026)
    kills = 0
    try:
        # Kill at random moments for as long as the shipper runs.
        while shipper.poll() is None:
            time.sleep(rng.uniform(0.05, 0.3))
            collector.kill()
            kills += 1
            time.sleep(rng.uniform(0.0, 0.3))
            collector.start()
        out, _ = shipper.communicate(timeout=300)
    finally:
        if shipper.poll() is None:
            shipper.kill()
            shipper.communicate()
        collector.stop()
    with sqlite3.connect(db) as connection:
        boots = connection.execute("SELECT COUNT(*), COUNT(DISTINCT boot_id) FROM boots").fetchone()
        crashes = connection.execute("SELECT COUNT(*) FROM crashes").fetchone()[0]
    losses = RECORDS - boots[1] - crashes
    print(
        f"\ndurability: {kills} SIGKILLs, {RECORDS} records, stored {boots[0]} boots + "
        f"{crashes} crashes, {losses} lost; shipper: {out.strip()}"
    )
    assert kills >= KILLS
    assert shipper.returncode == 0
    assert spool.files() == []
    assert boots == (RECORDS // 2, RECORDS // 2)
    assert crashes == RECORDS // 2
    assert losses == 0
