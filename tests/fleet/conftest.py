"""Fixtures of the fleet and server suites: the two real databases a store runs on.

``db_url`` is parametrized over ``sqlite`` (a file in the test's ``tmp_path``) and
``postgresql`` (a fresh database on a PostgreSQL server this module starts once per
session from Debian's binaries: ``initdb`` into a temporary directory as the ``postgres``
system user, listening on 127.0.0.1 and a unix socket in that directory, ``fsync=off``).
The server suite imports these fixtures, so both suites share one server.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import psycopg
import pytest

from kexec_lineage.fleet.store import Store, open_store

__all__ = ("PostgresServer", "db_url", "free_port", "postgres_server", "store")

PG_ROOT = Path("/usr/lib/postgresql")
PG_USER = "postgres"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pg_bin() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin``; missing binaries fail the test."""
    majors = sorted(
        (p for p in PG_ROOT.glob("*/bin") if (p / "initdb").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else -1,
    )
    if not majors:
        pytest.fail(
            f"no PostgreSQL server binaries under {PG_ROOT}/*/bin; "
            "`make test` installs the `postgresql` package (scripts/system-packages)"
        )
    return majors[-1]


def _as_postgres(*argv: str | Path) -> list[str]:
    """``argv`` run as the ``postgres`` system user (initdb refuses root)."""
    if os.geteuid() != 0:
        return [str(a) for a in argv]
    return ["runuser", "-u", PG_USER, "--", *(str(a) for a in argv)]


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"{what} exited {proc.returncode}: {proc.stderr or proc.stdout}")


@dataclass
class PostgresServer:
    """A running PostgreSQL server owned by this test session."""

    bin: Path
    base: Path
    port: int
    names: Iterator[int]
    watchdog: subprocess.Popen[bytes] | None = None

    @property
    def socket_dir(self) -> Path:
        return self.base

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """A superuser connection over the unix socket, in autocommit mode."""
        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=PG_USER,
            dbname="postgres",
            autocommit=True,
        )

    def create_database(self) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        name = f"t{next(self.names)}"
        with self.admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database of ``url``, ending its sessions."""
        with self.admin() as connection:
            connection.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def _stop_argv(self) -> list[str]:
        return _as_postgres(
            self.bin / "pg_ctl", "-D", self.base / "data", "-m", "immediate", "stop"
        )

    def watch(self) -> None:
        """Stop the server even if this process is killed before the session ends
        (``timeout``, SIGKILL): pg_ctl's server would otherwise outlive it."""
        script = (
            f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
            f"{shlex.join(self._stop_argv())}; rm -rf {shlex.quote(str(self.base))}"
        )
        self.watchdog = subprocess.Popen(
            ["sh", "-c", script],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.watchdog is not None:
            os.killpg(self.watchdog.pid, signal.SIGKILL)
            self.watchdog.wait()
        subprocess.run(self._stop_argv(), capture_output=True, check=False, timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)


def _start_postgres() -> PostgresServer:
    bin_dir = _pg_bin()
    # Not under pytest's tmp dir: /tmp/pytest-of-root is 0700 and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="kexec-lineage-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, PG_USER, PG_USER)
    data = base / "data"
    _run(
        _as_postgres(
            bin_dir / "initdb",
            "-D",
            data,
            "-U",
            PG_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ),
        "initdb",
    )
    port = free_port()
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} "
    options += "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    server = PostgresServer(bin_dir, base, port, count(1))
    proc = subprocess.run(
        _as_postgres(
            bin_dir / "pg_ctl", "-D", data, "-l", base / "server.log", "-o", options, "-w", "start"
        ),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        log = (base / "server.log").read_text(errors="replace") if base.exists() else ""
        server.stop()
        pytest.fail(f"pg_ctl start exited {proc.returncode}: {proc.stderr}{log}")
    server.watch()
    return server


class _Shared:
    """One server for every conftest that imports ``postgres_server``: started by the
    first user, stopped when the last one is done."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.server: PostgresServer | None = None

    def acquire(self) -> PostgresServer:
        with self.lock:
            if self.server is None:
                self.server = _start_postgres()
            self.users += 1
            return self.server

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0 and self.server is not None:
                self.server.stop()
                self.server = None


_SHARED = _Shared()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole session."""
    server = _SHARED.acquire()
    try:
        yield server
    finally:
        _SHARED.release()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fleet.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated store on ``db_url``, disposed after the test."""
    opened = open_store(db_url)
    try:
        yield opened
    finally:
        opened.dispose()
