"""The documented setup: `serve` over TLS, `ship` trusting its CA, and a dashboard
session cookie that is Secure and is not the token. Real processes, real sockets."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kexec_lineage.host.spool import Spool
from kexec_lineage.model.boot import Boot
from tests.collector import Collector, kexec_lineage, run_cli
from tests.tls import make_certificates


@pytest.fixture(scope="module")
def tls_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, Path]]:
    directory = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_certificates(directory)
    db = str(directory / "fleet.db")
    server = Collector(db, tls=(ca, cert, key))
    server.start()
    yield server, ca
    server.stop()


def spool_one(state: Path) -> Spool:
    spool = Spool(state / "spool")
    spool.put("boot", Boot("web-1", "tls-boot-1", "7.1.0", "cold").as_dict())
    return spool


def test_ship_over_tls_trusting_the_collectors_ca(
    tls_collector: tuple[Collector, Path], tmp_path: Path
) -> None:
    server, ca = tls_collector
    token = kexec_lineage("token", "create", "--db", server.db, "--host", "web-1").split()[-1]
    (tmp_path / "token").write_text(token + "\n")
    spool = spool_one(tmp_path / "state")
    argv = ("ship", "--to", server.url, "--token-file", tmp_path / "token")
    untrusted = run_cli(*argv, "--state-dir", tmp_path / "state")
    # Not transient (no retrying for --max-time): one line, the spool kept.
    assert untrusted.returncode == 2 and untrusted.stderr.count("\n") == 1
    assert "certificate is not trusted" in untrusted.stderr and "--ca-file" in untrusted.stderr
    assert len(spool.files()) == 1
    out = kexec_lineage(*argv, "--state-dir", tmp_path / "state", "--ca-file", ca)
    assert out.startswith("sent 1, rejected 0, left 0")


def test_plain_http_is_refused_off_loopback(tmp_path: Path) -> None:
    result = run_cli("serve", "--db", tmp_path / "fleet.db", "--host", "0.0.0.0")
    assert result.returncode == 2
    assert "tokens in clear" in result.stderr and result.stderr.count("\n") == 1
    half = run_cli("serve", "--db", tmp_path / "fleet.db", "--tls-cert", tmp_path / "x")
    assert half.returncode == 2 and "both --tls-cert and --tls-key" in half.stderr


def test_the_session_cookie_is_secure_and_not_the_token(
    tls_collector: tuple[Collector, Path],
) -> None:
    server, ca = tls_collector
    read = kexec_lineage("token", "create", "--db", server.db, "--read").split()[-1]
    with httpx.Client(base_url=server.url, verify=ssl.create_default_context(cafile=ca)) as http:
        response = http.post("/login", content=f"token={read}")
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("kl_session=") and read not in cookie
        attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite", "max-age"} <= attributes
        assert http.get("/").status_code == 200
        (listed,) = [
            line
            for line in kexec_lineage("token", "list", "--db", server.db).splitlines()
            if " read " in line
        ]
        kexec_lineage("token", "revoke", "--db", server.db, "--id", listed.split()[0])
        # The session ends with its token.
        assert http.get("/").status_code == 303
