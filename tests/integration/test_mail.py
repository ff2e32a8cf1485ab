"""SmtpMailer against a real SMTP server (aiosmtpd): permanent refusals versus transient ones."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from audioconv.adapters.mail import SmtpMailer
from audioconv.domain.errors import MailRejected


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Refusing:
    """Answers every RCPT TO with ``reply`` (aiosmtpd handler hook)."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return self.reply


class _RefusingData:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "554 message refused as spam"


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest) -> Iterator[int]:
    port = _free_port()
    controller = Controller(request.param, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.mark.parametrize(
    "smtp_server", [_Refusing("550 no such user"), _RefusingData()], indirect=True
)
def test_permanent_refusal_is_mail_rejected(smtp_server: int) -> None:
    mailer = SmtpMailer("127.0.0.1", smtp_server, "svc@x.org")
    with pytest.raises(MailRejected) as info:
        mailer.send("nobody@x.org", "Done", "It worked")
    assert "nobody@x.org" in str(info.value)


@pytest.mark.parametrize("smtp_server", [_Refusing("450 mailbox busy")], indirect=True)
def test_temporary_refusal_is_retried(smtp_server: int) -> None:
    mailer = SmtpMailer("127.0.0.1", smtp_server, "svc@x.org")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        mailer.send("busy@x.org", "Done", "It worked")
    assert not isinstance(info.value, MailRejected)


def test_no_server_is_retried() -> None:
    mailer = SmtpMailer("127.0.0.1", _free_port(), "svc@x.org", timeout=5)
    with pytest.raises(OSError):
        mailer.send("user@x.org", "Done", "It worked")
