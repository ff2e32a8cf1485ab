"""Signed webhooks: the event a finished task sends, its signature, and the record of
each delivery attempt.

The signature follows the scheme of the usual webhook senders (Stripe's): the
receiver gets ``Audioconv-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` over
``"<t>.<raw body>"`` with the user's secret, and refuses a timestamp too old (a
replay) or a signature that does not match. ``Audioconv-Event-Id`` is the same on
every attempt at one event, so a receiver can drop repeats.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import unicodedata
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from audioconv.domain.model import Task, TaskStatus, WebhookAttempt

SECRET_PREFIX = "whsec_"
EVENT_ID_HEADER = "Audioconv-Event-Id"
TIMESTAMP_HEADER = "Audioconv-Timestamp"
SIGNATURE_HEADER = "Audioconv-Signature"
# Longest webhook URL accepted.
MAX_URL_CHARS = 2048
# Receiver answers worth another attempt besides 5xx: timeout and slow-down.
_RETRIED_STATUSES = frozenset({408, 429})


def new_secret() -> str:
    """A fresh signing secret (32 random bytes)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


# Secrets as stored: Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from the
# service's signing key, so a copy of the database alone does not give them away.
_SEAL_INFO = b"audioconv webhook secrets v1"


def _sealer(signing_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEAL_INFO)
    return Fernet(base64.urlsafe_b64encode(derived.derive(signing_key.encode())))


def seal_secret(secret: str, signing_key: str) -> str:
    """``secret`` encrypted for storing."""
    return _sealer(signing_key).encrypt(secret.encode()).decode()


def open_secret(stored: str, signing_key: str) -> str | None:
    """The secret ``seal_secret`` stored (one stored in plain text before secrets were
    sealed is itself); None if it cannot be opened (the signing key changed)."""
    if stored.startswith(SECRET_PREFIX):
        return stored
    try:
        return _sealer(signing_key).decrypt(stored.encode()).decode()
    except InvalidToken:
        return None


def check_url_syntax(url: str, allow_http: bool) -> str:
    """The URL, if it is an absolute https (or, with ``allow_http``, http) URL with a
    host and no credentials or fragment; ValueError saying what is wrong otherwise."""
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"webhookUrl must be at most {MAX_URL_CHARS} characters")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ValueError("webhookUrl is not a valid URL") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise ValueError(f"webhookUrl must be an {' or '.join(schemes)} URL")
    if not parts.hostname:
        raise ValueError("webhookUrl must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("webhookUrl must not carry a user name or password")
    if parts.fragment or any(c.isspace() or unicodedata.category(c) == "Cc" for c in url):
        raise ValueError("webhookUrl must not have a fragment, spaces or control characters")
    return url


def event_id(task: Task) -> str:
    """The event of one finished revision: the same on every attempt (ids are never reused)."""
    return f"evt_{task.id}_{task.revision}"


def event_type(task: Task) -> str:
    return "task.processed" if task.status is TaskStatus.PROCESSED else "task.failed"


def event_body(task: Task, shown: dict[str, Any]) -> bytes:
    """The JSON body of the event of ``task``'s finished revision; ``shown`` is the task
    as the API shows it. The same bytes on every attempt while the revision stands."""
    event = {
        "id": event_id(task),
        "type": event_type(task),
        "createdAt": task.updated_at.isoformat(),
        "data": {"task": shown},
    }
    return json.dumps(event, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with the secret."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, event: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header one attempt carries."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "audioconv-webhooks/1",
        EVENT_ID_HEADER: event,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"t={timestamp},v1={signature(secret, timestamp, body)}",
    }


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """What a receiver does: the ``Audioconv-Signature`` header matches ``body`` and its
    timestamp is within ``tolerance`` seconds of ``now``."""
    fields = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(fields.get("v1", ""), signature(secret, timestamp, body))


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: the receiver's status code, or an error in words
    (``permanent`` when trying again cannot help: a refused address)."""

    status: int | None = None
    error: str | None = None
    permanent: bool = False

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """Network errors, timeouts, 5xx (and 408/429); not a refused address or a 4xx."""
        if self.status is None:
            return not self.permanent
        return self.status >= 500 or self.status in _RETRIED_STATUSES


def backoff(attempt: int, base_seconds: float) -> timedelta:
    """The wait after failed attempt ``attempt`` (1, 2, ...): base, 2 x base, 4 x base..."""
    return timedelta(seconds=base_seconds * 2 ** (attempt - 1))


def record(
    task: Task,
    url: str,
    attempt: int,
    outcome: Outcome,
    now: datetime,
    next_at: datetime | None,
) -> WebhookAttempt:
    """Add one attempt's outcome to the task's record, and when the next is due
    (``next_at``; None: none)."""
    retrying = "retrying" if next_at is not None else "failed"
    result = "delivered" if outcome.delivered else retrying
    entry = WebhookAttempt(
        event_id=event_id(task), attempt=attempt, at=now, url=url,
        status_code=outcome.status, error=outcome.error, result=result,
        next_attempt_at=next_at,
    )  # fmt: skip
    task.record_webhook_attempt(entry)
    return entry


def attempts_made(task: Task) -> int:
    """How many attempts at this revision's event are recorded."""
    current = event_id(task)
    made = [entry.attempt for entry in task.webhook_deliveries if entry.event_id == current]
    return max(made, default=0)


def settled(task: Task) -> bool:
    """Whether this revision's event was delivered or given up already."""
    current = event_id(task)
    return any(
        entry.event_id == current and entry.result in ("delivered", "failed")
        for entry in task.webhook_deliveries
    )
