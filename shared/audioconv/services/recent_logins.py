"""Passwords verified lately, so that logging in again soon skips argon2.

argon2 is slow on purpose (~28 ms of CPU a verify at OWASP's baseline), and a client
that logs in before each request (the older service's own load shape) spends most of
the API's CPU on it. Like Apache's mod_authn_socache or Dovecot's auth cache, each
process keeps, for a short while after a successful argon2 verify, a keyed hash of
the password that passed: HMAC-SHA256 under a random key made at start-up and never
stored. A later log-in with the same password and the same stored hash (a changed
password misses) is checked against it in microseconds; anything else, a wrong
password included, is checked by argon2 as before. Nothing new is written to the
database, so a stolen database is as hard to crack as ever; only this process's
memory holds the cache, and that memory sees the passwords themselves go by.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

# Enough for every active user of one API process; the oldest are forgotten first.
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry:
    password_hash: str
    digest: bytes
    verified_at: datetime


class RecentLogins:
    """A bounded, per-process memory of (user, password) pairs argon2 accepted lately."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._key = os.urandom(32)
        self._max = max_entries
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, password: str) -> bytes:
        data = password.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def remembers(
        self, user_id: int, password_hash: str, password: str, now: datetime, ttl: timedelta
    ) -> bool:
        """Whether this password passed argon2 for this user, under this very stored
        hash, less than ``ttl`` ago."""
        with self._lock:
            entry = self._entries.get(user_id)
        if entry is None or entry.password_hash != password_hash:
            return False
        if not entry.verified_at <= now < entry.verified_at + ttl:
            return False
        return hmac.compare_digest(entry.digest, self._digest(password))

    def remember(self, user_id: int, password_hash: str, password: str, now: datetime) -> None:
        """Record that argon2 accepted ``password`` for ``user_id`` at ``now``."""
        entry = _Entry(password_hash, self._digest(password), now)
        with self._lock:
            self._entries[user_id] = entry
            self._entries.move_to_end(user_id)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
