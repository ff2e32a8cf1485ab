"""Mailers: printed to the log, written to a folder, or sent over SMTP."""

from __future__ import annotations

import logging
import smtplib
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from audioconv.domain.errors import MailRejected

log = logging.getLogger(__name__)


def build_message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="audioconv.local")
    msg.set_content(body)
    return msg


class ConsoleMailer:
    def __init__(self, sender: str) -> None:
        self.sender = sender

    def send(self, to: str, subject: str, body: str) -> None:
        log.info("mail\n%s", build_message(self.sender, to, subject, body))


class FolderMailer:
    """Writes each mail as an .eml file (the embedded default): nothing to set up."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    def send(self, to: str, subject: str, body: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.folder / f".{name}"
        tmp.write_bytes(bytes(build_message(self.sender, to, subject, body)))
        tmp.rename(self.folder / name)
        log.info("mail to %s written to %s", to, self.folder / name)


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        user: str = "",
        password: str = "",
        starttls: bool = False,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.starttls = user, password, starttls
        self.timeout = timeout

    def send(self, to: str, subject: str, body: str) -> None:
        """Send one mail; MailRejected if the server refuses this message for good.

        A 5xx reply to the recipient or the message is permanent. Everything else
        is raised as it is, to be retried: 4xx replies, no connection, and refused
        logins or greetings (our configuration or the server's, not this mail's).
        """
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(build_message(self.sender, to, subject, body))
        except smtplib.SMTPRecipientsRefused as exc:
            replies = list(exc.recipients.values())
            if replies and all(_permanent(code) for code, _ in replies):
                detail = "; ".join(f"{code} {_text(reply)}" for code, reply in replies)
                raise MailRejected(f"mail to {to} refused: {detail}") from exc
            raise
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPConnectError):
            raise
        except smtplib.SMTPResponseException as exc:
            if _permanent(exc.smtp_code):
                detail = f"{exc.smtp_code} {_text(exc.smtp_error)}"
                raise MailRejected(f"mail to {to} refused: {detail}") from exc
            raise


def _permanent(code: int) -> bool:
    return 500 <= code < 600


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply
