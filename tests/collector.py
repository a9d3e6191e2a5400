"""A real collector process (`kexec-lineage serve`) for tests that need one to die."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(
    *argv: str | Path, check: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a process of its own."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run(
        [sys.executable, "-m", "kexec_lineage", *map(str, argv)],
        capture_output=True,
        text=True,
        check=check,
        env=env,
        timeout=timeout,
    )


def kexec_lineage(*argv: str | Path) -> str:
    """Run the real command line, fail on a non-zero exit, return its stdout."""
    return run_cli(*argv, check=True).stdout


class Collector:
    """``kexec-lineage serve`` on a free loopback port, started and killed at will."""

    def __init__(
        self,
        db: str,
        *,
        local: bool = False,
        tls: tuple[Path, Path, Path] | None = None,
        options: tuple[str, ...] = (),
    ) -> None:
        """``tls``: a CA file, and the certificate and key the collector serves with."""
        self.db = db
        self.local = local
        self.tls = tls
        self.options = options
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kexec_lineage",
                "serve",
                "--db",
                self.db,
                "--port",
                str(self.port),
                *(["--local"] if self.local else []),
                *self.options,
                *(
                    ["--tls-cert", str(self.tls[1]), "--tls-key", str(self.tls[2])]
                    if self.tls
                    else []
                ),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                context = ssl.create_default_context(cafile=self.tls[0]) if self.tls else None
                with urllib.request.urlopen(
                    self.url + "/healthz", timeout=1, context=context
                ) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("collector did not come up")

    def kill(self) -> None:
        """SIGKILL: no chance to flush or answer."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None
