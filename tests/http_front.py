"""What may stand where the collector should: a web server or proxy that answers
every request with one status of its choosing, and keeps what it was sent.

Not a stand-in for the collector (tests ship to the real one): it is the
misconfigured front (a wrong path, a redirect, a proxy's 405) that an agent
meets in the field.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None


@dataclass
class Front:
    url: str
    seen: list[Seen] = field(default_factory=list)


@contextmanager
def front(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Iterator[Front]:
    """A server on a free loopback port answering ``status`` with ``headers`` and ``body``."""
    served = Front("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            served.seen.append(Seen(self.command, self.path, self.headers.get("Authorization")))
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
