"""`kexec-lineage ingest` and `token create` against a real SQLite database."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_logs_commands import split_pstore_dump, write_chain
from tests.collector import free_port, kexec_lineage, run_cli


def rows(db: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as connection:
        return connection.execute(query).fetchall()


def test_ingest_logs_idempotently(tmp_path: Path) -> None:
    log = tmp_path / "web-7.log"
    write_chain(log)
    db = tmp_path / "fleet.db"
    out = kexec_lineage("ingest", "--db", db, log)
    assert out == "ingested 1 files: 2 new boots, 1 new crashes\n"
    assert (
        kexec_lineage("ingest", "--db", db, log) == "ingested 1 files: 0 new boots, 0 new crashes\n"
    )
    boots = rows(
        db,
        "SELECT h.name, b.release, b.how, b.previous_release, b.kexec_count, b.previous_boot_id, "
        "b.boot_id FROM boots b JOIN hosts h ON h.id = b.host_id ORDER BY b.id",
    )
    assert [b[:5] for b in boots] == [
        ("web-7", "7.1.0", "cold", None, 0),
        ("web-7", "7.1.2", "kexec", "7.1.0", 1),
    ]
    assert boots[1][5] == boots[0][6]  # linked into a chain
    (crash,) = rows(db, "SELECT boot_id, title, type, release, source FROM crashes")
    assert crash == (boots[1][6], "WARNING in dev_close", "WARNING", "7.1.2", "console")


def test_token_create_prints_the_token_last(tmp_path: Path) -> None:
    db = tmp_path / "fleet.db"
    lines = kexec_lineage("token", "create", "--db", db, "--host", "web-1").splitlines()
    token = lines[-1]
    assert token.startswith("kl_") and len(token) > 40
    read = kexec_lineage("token", "create", "--db", db, "--read").splitlines()[-1]
    stored = rows(db, "SELECT digest, kind, host FROM tokens ORDER BY id")
    assert [(k, h) for _, k, h in stored] == [("host", "web-1"), ("read", None)]
    assert all(token not in str(d) and read not in str(d) for d, _, _ in stored)


def test_ingest_joins_a_pstore_dump_split_over_files(tmp_path: Path) -> None:
    pstore = split_pstore_dump(tmp_path)
    db = tmp_path / "fleet.db"
    out = kexec_lineage("ingest", "--db", db, "--host", "web-3", pstore)
    assert out == "ingested 2 files: 1 new boots, 2 new crashes\n"
    crashes = rows(
        db,
        "SELECT h.name, c.title, c.source FROM crashes c JOIN hosts h ON h.id = c.host_id "
        "ORDER BY c.id",
    )
    assert crashes == [
        ("web-3", "WARNING in dev_close", "pstore:panic"),
        ("web-3", "kernel panic: panic_on_warn set", "pstore:panic"),
    ]


@pytest.mark.parametrize("every", ["0", "-5", "nan"])
def test_serve_refuses_an_analysis_every_that_would_never_rest(tmp_path: Path, every: str) -> None:
    # The analysis thread waits --analysis-every seconds between computations: at 0
    # or below it would compute without end, a CPU for good. Refused before serving
    # (a collector that serves instead is stopped by the timeout, failing the test).
    db = tmp_path / "fleet.db"
    port = str(free_port())
    try:
        done = run_cli(
            "serve", "--db", db, "--local", "--port", port, "--analysis-every", every, timeout=20
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve --analysis-every {every} served")
    assert done.returncode == 2
    assert "--analysis-every" in done.stderr
    assert not db.exists()
