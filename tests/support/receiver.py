"""A real HTTP server on 127.0.0.1 standing in for a user's webhook receiver."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import trustme


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next of ``script`` (a status code, or ``"hang"``: no
    answer until the client gives up), then 200; keeps every request it got."""

    url: str
    script: list[int | str] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} requests arrived, not {count}")
            time.sleep(0.05)
        return self.requests


@contextmanager
def webhook_receiver(
    path: str = "/hooks/audioconv", tls: trustme.LeafCert | None = None, host: str = "127.0.0.1"
) -> Iterator[Receiver]:
    """The receiver, over HTTPS with ``tls`` (its URL then names ``host``)."""
    receiver: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert receiver is not None
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
            action = receiver.script.pop(0) if receiver.script else 200
            if action == "hang":
                receiver.release.wait(30)  # the sender's timeout ends it first
                return
            self.send_response(int(action))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    receiver = Receiver(f"{scheme}://{host}:{server.server_address[1]}{path}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
