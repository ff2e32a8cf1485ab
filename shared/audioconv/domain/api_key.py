"""API keys: named, scoped, long-lived credentials for scripts (``ak_live_...``).

A key is ``ak_live_`` and 64 hex digits (32 random bytes). It is shown once, when it
is made; the database keeps only its visible prefix (``ak_live_3f9c1a2b``, enough
to tell keys apart in a list) and an HMAC-SHA256 of the whole key under a key of
the server's own. Why not argon2 as for passwords: a password is a guessable
secret, and a slow hash is what makes guessing it costly; a key has 256 random
bits, which no one guesses at any speed, so a slow hash would only cost every
request ~30 ms of CPU. A fast hash keeps a request's check to one indexed lookup.
Why keyed (HMAC) rather than plain SHA-256: a copy of the database alone (a stolen
backup) then cannot even confirm that a key found elsewhere is one of ours.

A key is revoked by deleting its row: every process looks the key up on each
request, so a revoked key fails at once everywhere (as tokens do: domain/account.py).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from audioconv.domain.model import utcnow
from audioconv.domain.throttle import Rule

KEY_PREFIX = "ak_live_"
# Random bytes of a key (64 hex digits).
SECRET_BYTES = 32
# Hex digits of the key shown in lists after KEY_PREFIX.
SHOWN_DIGITS = 8
KEY_CHARS = len(KEY_PREFIX) + 2 * SECRET_BYTES
PREFIX_CHARS = len(KEY_PREFIX) + SHOWN_DIGITS
HASH_CHARS = 64  # hex SHA-256
MAX_KEY_NAME_CHARS = 100
MAX_KEYS_PER_USER = 50
# A key's last use is written at most this often (not a write per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Wrong keys from one client address: throttled like wrong passwords (domain/throttle.py).
KEY_FROM_ADDRESS = Rule("apikey-ip", free=20)
_KEY = re.compile(r"ak_live_[0-9a-f]{64}")


class Scope(enum.StrEnum):
    """What a key may do. ``convert``: upload, read, download and delete its user's
    tasks (and batches); ``read``: only read and download them."""

    READ = "read"
    CONVERT = "convert"


# What each scope includes.
_INCLUDES = {Scope.READ: {Scope.READ}, Scope.CONVERT: {Scope.READ, Scope.CONVERT}}


def looks_like_key(credential: str) -> bool:
    """Whether a bearer credential is meant as an API key (not a log-in token)."""
    return credential.startswith("ak_")


def well_formed(key: str) -> bool:
    return bool(_KEY.fullmatch(key))


def new_key() -> str:
    """A new key, in the form the user is shown once."""
    return KEY_PREFIX + secrets.token_hex(SECRET_BYTES)


def key_hash(server_key: bytes, key: str) -> str:
    """What the database keeps of ``key``: its HMAC-SHA256 under ``server_key``."""
    return hmac.new(server_key, key.encode(), hashlib.sha256).hexdigest()


def hashing_key(signing_key: str) -> bytes:
    """The server's key for ``key_hash``, derived from the token signing key (its own
    label, so neither key's use tells anything about the other)."""
    return hmac.new(signing_key.encode(), b"audioconv api-key hash v1", hashlib.sha256).digest()


@dataclass(eq=False)
class ApiKey:
    """One API key of a user, as stored (never the key itself)."""

    user_id: int
    name: str
    prefix: str
    secret_hash: str
    scopes: list[str]
    id: int | None = None
    created_at: datetime = field(default_factory=utcnow)
    last_used_at: datetime | None = None

    def allows(self, needed: Scope) -> bool:
        """Whether any of the key's scopes includes ``needed``."""
        known = [Scope(s) for s in self.scopes if s in _INCLUDES]
        return any(needed in _INCLUDES[scope] for scope in known)

    def use_is_news(self, now: datetime) -> bool:
        """Whether a use at ``now`` should be written (its last use is that old)."""
        return self.last_used_at is None or now - self.last_used_at >= LAST_USED_RESOLUTION
