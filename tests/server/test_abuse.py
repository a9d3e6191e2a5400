"""A real collector process against clients that abuse it: bodies with no token,
bodies that never finish. Raw sockets, so nothing is smoothed over by a client."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector import Collector, kexec_lineage


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, str]]:
    db = str(tmp_path_factory.mktemp("abuse") / "fleet.db")
    token = kexec_lineage("token", "create", "--db", db, "--host", "web-1").split()[-1]
    server = Collector(db, options=("--body-timeout", "2"))
    server.start()
    yield server, token
    server.stop()


def answer_to(server: Collector, head: str, body: bytes = b"", wait: float = 20.0) -> str:
    """The status line the collector sends after ``head`` and the start of a body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as s:
        s.sendall(head.encode() + b"\r\n" + body)
        try:
            return s.recv(4096).decode("latin-1").split("\r\n", 1)[0]
        except TimeoutError:
            return "no answer"


def post_head(length: int, token: str | None = None, path: str = "/v1/boots") -> str:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n{auth}"
    )


@pytest.mark.parametrize("token", [None, "kl_" + "e" * 43], ids=["none", "unknown"])
def test_without_a_valid_token_the_body_is_never_waited_for(
    served: tuple[Collector, str], token: str | None
) -> None:
    server, _ = served
    # 8 MB announced, 10 bytes sent: the answer comes before the rest would.
    assert (
        answer_to(server, post_head(8_000_000, token), b'{"boots": ') == "HTTP/1.1 401 Unauthorized"
    )


def test_a_body_sent_too_slowly_is_408(served: tuple[Collector, str]) -> None:
    server, token = served
    status = answer_to(server, post_head(1000, token), b'{"boots": [')
    assert status == "HTTP/1.1 408 Request Timeout"


def test_a_chunked_body_without_a_token_is_401_unread(served: tuple[Collector, str]) -> None:
    server, _ = served
    head = "POST /v1/crashes HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n"
    assert answer_to(server, head, b'a\r\n{"crashes"\r\n') == "HTTP/1.1 401 Unauthorized"


def test_the_collector_still_answers_after_the_abuse(served: tuple[Collector, str]) -> None:
    server, _ = served
    head = "GET /healthz HTTP/1.1\r\nHost: c\r\n"
    assert answer_to(server, head) == "HTTP/1.1 200 OK"


def test_login_reads_at_most_4_kib(served: tuple[Collector, str], tmp_path: Path) -> None:
    server, _ = served
    head = post_head(100_000, path="/login").replace(
        "application/json", "application/x-www-form-urlencoded"
    )
    assert (
        answer_to(server, head, b"token=" + b"x" * 5000) == "HTTP/1.1 413 Request Entity Too Large"
    )
