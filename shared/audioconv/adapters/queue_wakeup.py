"""Wake-ups for the embedded queue (adapters/sql_queue.py): a publish wakes the
consumers at once; their poll stays only as the safety net.

- PostgreSQL: the publishing transaction runs ``pg_notify`` on ``CHANNEL`` (delivered
  when it commits, never for a rolled-back one); each consumer holds one connection
  that ``LISTEN``s and waits on its socket.
- SQLite: ``audioconv serve`` makes one datagram socket pair per worker process
  (``socket_pairs``) and hands the receiving end to that worker and every sending end
  to the API processes (and keeps them for its own sweeps), as inherited file
  descriptors (``AUDIOCONV_WAKE_FD``, ``AUDIOCONV_WAKE_FDS``). A publish sends one
  byte on each after its commit; a full socket (a worker that has not read its
  wake-ups) is ignored, since one pending wake-up is as good as many.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)
CHANNEL = "audioconv_queue"
# How long a listener waits before looking at its stop flag again (it is a daemon).
_LISTEN_TIMEOUT = 1.0
_RECONNECT_SECONDS = 2.0


def notify_in(conn: Connection) -> None:
    """Within a PostgreSQL transaction: wake the listeners when it commits."""
    conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def socket_pairs(count: int) -> list[tuple[socket.socket, socket.socket]]:
    """``count`` (receiving, sending) datagram socket pairs; the sending ends never block."""
    pairs = []
    for _ in range(count):
        receiving, sending = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        sending.setblocking(False)
        pairs.append((receiving, sending))
    return pairs


class SocketWaker:
    """The sending ends this process inherited: ``wake`` sends one byte on each."""

    def __init__(self, fds: Sequence[int]) -> None:
        # Its own copies: whoever made the sockets keeps and closes the originals.
        self._sockets = [socket.socket(fileno=os.dup(fd)) for fd in fds]
        for sock in self._sockets:
            sock.setblocking(False)

    def wake(self) -> None:
        for sock in self._sockets:
            # Full (a wake-up is pending already) or its worker gone: nothing to do.
            with contextlib.suppress(OSError):
                sock.send(b"\0")


def parse_fds(value: str) -> list[int]:
    """``"5,6"`` -> [5, 6] (the setting ``wake_fds``)."""
    return [int(part) for part in value.split(",") if part.strip()]


def listen_socket(fd: int, wake: Callable[[], None], stop: threading.Event) -> threading.Thread:
    """A daemon thread calling ``wake`` whenever the inherited socket ``fd`` receives."""
    sock = socket.socket(fileno=os.dup(fd))  # its own copy, closed when it stops
    sock.setblocking(False)

    def loop() -> None:
        with sock:
            _receive(sock, wake, stop)

    return _start(loop, "queue-wake")


def _receive(sock: socket.socket, wake: Callable[[], None], stop: threading.Event) -> None:
    while not stop.is_set():
        readable, _, _ = select.select([sock], [], [], _LISTEN_TIMEOUT)
        if not readable:
            continue
        # Several pending wake-ups are one: read them all, then wake once.
        try:
            while sock.recv(64):
                pass
        except BlockingIOError:
            pass
        except OSError:
            log.exception("the queue's wake-up socket failed; polling only")
            return
        wake()


def listen_postgres(
    engine: Engine, wake: Callable[[], None], stop: threading.Event
) -> threading.Thread:
    """A daemon thread holding one connection that LISTENs on CHANNEL and calls ``wake``
    on each notification (and once after each reconnection: one may have been missed)."""

    def loop() -> None:
        while not stop.is_set():
            try:
                _listen(engine, wake, stop)
            except Exception:
                log.warning("listening for queue notifications failed; reconnecting",
                            exc_info=True)  # fmt: skip
                stop.wait(_RECONNECT_SECONDS)

    return _start(loop, "queue-listen")


def _listen(engine: Engine, wake: Callable[[], None], stop: threading.Event) -> None:
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        driver.rollback()  # the pool's check began a transaction: LISTEN acts at commit
        driver.autocommit = True
        cursor = driver.cursor()
        cursor.execute(f"LISTEN {CHANNEL}")
        wake()
        # An idle LISTENing connection receives nothing but notifications: wake as soon
        # as its socket has something (a round trip sooner), then let pg8000 read it in
        # by running a statement.
        sock = driver._usock
        while not stop.is_set():
            readable, _, _ = select.select([sock], [], [], _LISTEN_TIMEOUT)
            if readable:
                wake()
                cursor.execute("SELECT 1")
            if driver.notifications:
                driver.notifications.clear()
                wake()
    finally:
        with contextlib.suppress(Exception):
            raw.invalidate()  # a LISTENing connection must not go back to the pool


def _start(loop: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread
