"""An account over its life: the API tokens it holds, each with a record that one request
can revoke everywhere at once; the verification of its e-mail address; the limits on
mail sent to an address; and what deleting the account removed.

A token is a signed JWT whose ``jti`` names its record (``ApiToken``). The signature
says who issued it; the record says it still stands: logging out deletes the record
of that token, a changed password every other record of the user, a deleted account
all of them. Every process and instance checks the record on each request, so a
revoked token is refused everywhere at once.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from audioconv.domain.throttle import Rule

# Tokens a user may hold at once: each log-in makes one; past this, the oldest go.
MAX_TOKENS_PER_USER = 100
# A token id: 32 hex digits (a random UUID's 122 bits).
TOKEN_ID_CHARS = 32

# Verification mails one account may ask for after the sign-up's: two at once, then
# ten minutes, doubling to an hour, between them.
VERIFY_MAIL = Rule("verify-mail", free=2, base=timedelta(minutes=10), ceiling=timedelta(hours=1))


def mails_to_address(per_hour: int) -> Rule:
    """At most ``per_hour`` mails of any kind to one address: after the last of them,
    none for an hour."""
    hour = timedelta(hours=1)
    return Rule("mail-to", free=per_hour, base=hour, ceiling=hour, window=hour)


def address_key(email: str) -> str:
    """What names an address in the throttle table: a hash, so no address is kept there
    (the row outlives a deleted account)."""
    return hashlib.sha256(email.encode()).hexdigest()[:40]


def new_token_id() -> str:
    return uuid.uuid4().hex


@dataclass(eq=False)
class ApiToken:
    """The record of one issued API token: it stands while this row exists."""

    id: str
    user_id: int
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Deleted:
    """What deleting an account removed, as the API answers it."""

    tasks: int
    files: int
    batches: int
    webhooks: int
    queued_messages: int
    tokens: int

    def as_json(self) -> dict[str, int]:
        return {
            "tasks": self.tasks,
            "files": self.files,
            "batches": self.batches,
            "webhooks": self.webhooks,
            "queuedMessages": self.queued_messages,
            "tokens": self.tokens,
        }
