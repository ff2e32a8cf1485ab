"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every mail it is sent."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message as Mail
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox(Message):
    """Every mail the server accepted, in order of arrival."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port
        self.mails: list[Mail] = []
        self._lock = threading.Lock()

    def handle_message(self, message: Any) -> None:
        with self._lock:
            self.mails.append(message)

    def to(self, address: str, subject: str = "") -> list[Mail]:
        """The mails to ``address`` whose subject holds ``subject``."""
        with self._lock:
            return [m for m in self.mails if m["To"] == address and subject in m["Subject"]]

    def wait_for(self, address: str, subject: str, count: int, timeout: float = 30) -> list[Mail]:
        deadline = time.monotonic() + timeout
        while len(found := self.to(address, subject)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} mails to {address} ({subject!r}), not {count}")
            time.sleep(0.05)
        return found


@contextmanager
def smtp_server() -> Iterator[Inbox]:
    inbox = Inbox(free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
