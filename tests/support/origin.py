"""A file server a test starts on a loopback address: the origin URL imports fetch from.

Each path is a behaviour: the file itself, a name in ``Content-Disposition``, a 404,
redirects (to itself, or to another address), a body too large, a trickle, a server
that lies about ``Content-Length``. Every request's path and query is recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Origin:
    """The server's state: the file it serves, where redirects go, what it was asked."""

    def __init__(self, body: bytes, redirect_to: str = "") -> None:
        self.body = body
        self.redirect_to = redirect_to
        self.requests: list[str] = []
        self.url = ""
        self._server: ThreadingHTTPServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                origin.requests.append(self.path)
                path = self.path.split("?", 1)[0]
                body = origin.body
                sized = {"Content-Length": str(len(body)), "Content-Type": "audio/wav"}
                if path in ("/song.wav", "/signed/song.wav"):
                    self._send(200, sized, body)
                elif path == "/download":
                    disposition = (
                        "attachment; filename=\"ignored.wav\"; filename*=UTF-8''R%C3%A9al.wav"
                    )
                    self._send(200, {**sized, "Content-Disposition": disposition}, body)
                elif path == "/missing.wav":
                    self._send(404, {"Content-Length": "9"}, b"not found")
                elif path == "/moved":
                    self._send(302, {"Location": "/song.wav", "Content-Length": "0"})
                elif path == "/away":
                    self._send(302, {"Location": origin.redirect_to, "Content-Length": "0"})
                elif path == "/huge.wav":  # no length announced: the limit applies as it streams
                    self.send_response(200)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for _ in range(64):
                        self.wfile.write(body)
                elif path == "/slow.wav":  # a byte at a time, never done in time
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    for byte in body[:200]:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.05)
                elif path == "/liar.wav":  # announces more than it sends, then hangs up
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body) + 5000))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True
                elif path == "/claims-huge.wav":  # announces more than the limit
                    self._send(200, {"Content-Length": str(1 << 40), "Connection": "close"})
                    self.close_connection = True
                else:
                    self._send(404, {"Content-Length": "0"})

        return Handler


@contextmanager
def serve(origin: Origin, host: str) -> Iterator[Origin]:
    """Serve ``origin`` on ``host`` (a free port) until the block ends."""
    server = ThreadingHTTPServer((host, 0), origin.handler())
    server.daemon_threads = True
    origin.url = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        server.shutdown()
        server.server_close()
