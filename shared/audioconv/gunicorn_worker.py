"""gunicorn's threaded worker for the embedded API, made careful about slow clients.

gunicorn's ``gthread`` worker gives a connection one of its threads as soon as any of
its bytes arrive, and the thread then blocks reading the rest: 18-40 connections that
send a login body one byte every few seconds took every thread and ``/healthz`` timed
out for everyone (issue 18). A buffering proxy in front (nginx, App Engine's front end)
prevents that; ``audioconv serve`` has none, so this worker does what such a proxy
does, in its event loop:

- a request is read by the worker's main thread, without blocking, until its head and
  body (up to ``BUFFER_BYTES``: any JSON request) have arrived; only then does it get a
  thread, which parses it from memory. A larger body (an upload) is handed over once
  ``BUFFER_BYTES`` are in, and so is a request that asks ``Expect: 100-continue``;
- a request still incomplete ``REQUEST_SECONDS`` after its first byte is answered
  408 and closed (an idle kept-alive connection keeps gunicorn's own keep-alive limit);
- a thread reading the rest of a large body waits at most ``READ_SECONDS`` for each
  piece of it (a stalled upload gives its thread back);
- ``100 Continue`` is sent only when the application starts reading the body, so a
  request it refuses unread (a 413) is answered at once, with no 100 before it;
- gunicorn's own error answers (a malformed request line, headers too large, a bad
  chunk) are JSON ``{"message", "requestId"}`` like the application's, not HTML.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
import selectors
import socket
import time
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.http import wsgi as gunicorn_wsgi
from gunicorn.workers.gthread import ThreadWorker

# A request whose head and body fit in this is read whole before it gets a thread: every
# request but an upload (JSON bodies are capped at 64 KiB, heads at gunicorn's limits).
BUFFER_BYTES = 128 * 1024
# From a request's first byte to its last buffered one.
REQUEST_SECONDS = 30.0
# A thread reading the rest of a large body waits at most this long for each piece.
READ_SECONDS = 30.0
_CHUNKED = re.compile(rb"^transfer-encoding:.*chunked", re.I | re.M)
_LENGTH = re.compile(rb"^content-length:[ \t]*([0-9]+)[ \t]*\r?$", re.I | re.M)
_EXPECT = re.compile(rb"^expect:[ \t]*100-continue", re.I | re.M)
SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store"))


def wanted_bytes(head: bytes) -> int | None:
    """How many bytes of a request whose head is ``head`` (up to its blank line) to
    buffer before handing it over: None once the rest can be read in a thread."""
    if _EXPECT.search(head):
        return None  # the client waits for our 100 Continue before sending the body
    if _CHUNKED.search(head):
        return BUFFER_BYTES  # until its last chunk (``done``) or the buffer is full
    lengths = _LENGTH.findall(head)
    if len(lengths) != 1:
        return None  # none (no body), or several: gunicorn's parser says what is wrong
    return min(len(head) + int(lengths[0]), BUFFER_BYTES)


def complete(data: bytes) -> bool:
    """Whether ``data`` (a request's first bytes) can be handed to a thread."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return len(data) >= BUFFER_BYTES  # a head too large: gunicorn refuses it
    head = data[: end + 4]
    wanted = wanted_bytes(head)
    if wanted is None or len(data) >= wanted:
        return True
    return bool(_CHUNKED.search(head)) and data.endswith(b"0\r\n\r\n")


class _Buffering:
    """A connection whose request is still arriving, read by the main thread."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.data = b""
        self.deadline = time.monotonic() + REQUEST_SECONDS


class BufferingThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, with requests read whole before they take a thread (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffering: dict[int, _Buffering] = {}

    def enqueue_req(self, conn: Any) -> None:
        parser = getattr(conn, "parser", None)
        if parser is not None and parser.unreader.buf.getvalue():
            super().enqueue_req(conn)  # the next request is already in gunicorn's buffer
            return
        conn.sock.setblocking(False)
        pending = _Buffering(conn)
        self.buffering[id(conn)] = pending
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, pending))

    def _on_readable(self, pending: _Buffering, sock: socket.socket) -> None:
        try:
            chunk = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away
            self._drop(pending)
            return
        pending.data += chunk
        if complete(pending.data):
            self._stop_buffering(pending)
            pending.conn.buffered = pending.data
            super().enqueue_req(pending.conn)

    def _stop_buffering(self, pending: _Buffering) -> None:
        self.buffering.pop(id(pending.conn), None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(pending.conn.sock)

    def _drop(self, pending: _Buffering, status: int | None = None) -> None:
        self._stop_buffering(pending)
        if status is not None:
            with contextlib.suppress(OSError):
                write_json_error(pending.conn.sock, status, "Request Timeout",
                                 "the request did not arrive in time")  # fmt: skip
        self.nr_conns -= 1
        pending.conn.close()

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for pending in [p for p in self.buffering.values() if p.deadline <= now]:
            self._drop(pending, status=408)

    def handle(self, conn: Any) -> Any:
        buffered = getattr(conn, "buffered", None)
        if buffered is not None:
            conn.buffered = None
            conn.data_ready = True
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(buffered)
        return super().handle(conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        conn.sock.settimeout(READ_SECONDS)  # each read of the rest of the body
        return super().handle_request(req, conn)


def write_json_error(sock: Any, status: int, reason: str, message: str) -> None:
    """What ``gunicorn.util.write_error`` writes, as ``{"message", "requestId"}``."""
    said = {400: "the request is malformed", 414: "the request line is too long",
            431: "the request's headers are too large", 408: "the request timed out",
            417: "the expectation is not supported", 501: "that transfer coding is not supported",
            }.get(status, "the request could not be handled")  # fmt: skip
    detail = message.strip()[:200]
    body = json.dumps({
        "message": f"{said}: {detail}" if detail and status < 500 else said,
        "requestId": uuid.uuid4().hex,
    }).encode()  # fmt: skip
    head = [f"HTTP/1.1 {status} {reason}", "Connection: close",
            "Content-Type: application/json", f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in SECURITY_HEADERS)]  # fmt: skip
    util.write_nonblock(sock, ("\r\n".join(head) + "\r\n\r\n").encode("latin1") + body)


class _ContinueOnRead:
    """A request body that sends ``100 Continue`` when it is first read."""

    def __init__(self, body: Any, sock: socket.socket) -> None:
        self._body, self._sock, self._sent = body, sock, False

    def _continue(self) -> None:
        if not self._sent:
            self._sent = True
            self._sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    def read(self, size: int | None = None) -> bytes:
        self._continue()
        return bytes(self._body.read(size))

    def readline(self, size: int | None = None) -> bytes:
        self._continue()
        return bytes(self._body.readline(size))

    def readlines(self, hint: int | None = None) -> list[bytes]:
        self._continue()
        return list(self._body.readlines(hint))

    def __iter__(self) -> Iterator[bytes]:
        self._continue()
        return iter(self._body)


_create = gunicorn_wsgi.create


def create(req: Any, sock: Any, client: Any, server: Any, cfg: Any) -> Any:
    """``gunicorn.http.wsgi.create``, with ``100 Continue`` deferred to the first read."""
    expects = bool(getattr(req, "_expected_100_continue", False))
    req._expected_100_continue = False
    resp, environ = _create(req, sock, client, server, cfg)
    if expects:
        environ["wsgi.input"] = _ContinueOnRead(environ["wsgi.input"], sock)
    return resp, environ


def install() -> None:
    """In this process: ``create`` for every request, and gunicorn's own error answers
    as JSON (gthread and gunicorn's base worker call both through their modules)."""
    gunicorn_wsgi.create = create
    util.write_error = write_json_error


def is_timeout(exc: BaseException) -> bool:
    """Whether a read of a request body gave up waiting (``READ_SECONDS``)."""
    return isinstance(exc, TimeoutError | socket.timeout) or (
        isinstance(exc, OSError) and exc.errno == errno.ETIMEDOUT
    )


# gunicorn's parse errors as the application sees them (reading a chunked body).
PARSE_ERRORS = (http_errors.ParseException,)
