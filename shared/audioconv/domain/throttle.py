"""Throttling of log-ins and sign-ups: exponential back-off per key, forgiven in time.

A key names what is counted: a client address, an account, or an account seen
from one address. Each rule lets ``free`` events through, then blocks the key
for ``base`` seconds, doubling with every further event up to ``ceiling``.
A key that has been quiet for ``window`` starts again from zero, so nobody is
locked out for good; the ceiling bounds how long an attacker can keep an
account closed to its owner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from audioconv.domain.model import as_utc


@dataclass(frozen=True)
class Rule:
    """How many events a key may have in a window before it is slowed down."""

    name: str
    free: int
    base: timedelta = timedelta(seconds=1)
    ceiling: timedelta = timedelta(minutes=15)
    window: timedelta = timedelta(hours=1)

    def on(self, *parts: str) -> tuple[Rule, str]:
        """This rule with the key it counts for ``parts`` (an address, an account...)."""
        return self, ":".join((self.name, *parts))


# Wrong passwords from one client address, for any accounts.
LOGIN_FROM_ADDRESS = Rule("login-ip", free=20)
# Wrong passwords for one account from one address: the usual guessing.
LOGIN_ACCOUNT_FROM_ADDRESS = Rule("login-user-ip", free=5)
# Wrong passwords for one account from anywhere (distributed guessing); its short
# ceiling bounds how long others can keep the owner out.
LOGIN_ACCOUNT = Rule("login-user", free=50, ceiling=timedelta(minutes=5))
# Sign-ups (made or refused) from one client address.
SIGNUP_FROM_ADDRESS = Rule("signup-ip", free=20, base=timedelta(seconds=30))
# The longest window of any rule: a key quiet for longer, and not blocked, counts 0.
LONGEST_WINDOW = max(
    rule.window for rule in (LOGIN_FROM_ADDRESS, LOGIN_ACCOUNT_FROM_ADDRESS, LOGIN_ACCOUNT,
                             SIGNUP_FROM_ADDRESS)
)  # fmt: skip


@dataclass(eq=False)
class Throttle:
    """The count of one key's recent events, and until when it is blocked."""

    key: str
    count: int
    window_started_at: datetime
    blocked_until: datetime | None = None

    def wait_seconds(self, now: datetime) -> int:
        """Whole seconds until the key may try again; 0 when it may now."""
        if self.blocked_until is None:
            return 0
        return max(0, math.ceil((as_utc(self.blocked_until) - now).total_seconds()))

    def give_back(self, rule: Rule) -> None:
        """Uncount one event (an attempt counted before it succeeded); under the
        rule's free allowance again, the key is not blocked."""
        self.count = max(0, self.count - 1)
        if self.count < rule.free:
            self.blocked_until = None

    def record(self, rule: Rule, now: datetime) -> None:
        """Count one event; past the rule's free allowance, block the key a while."""
        if self.wait_seconds(now) == 0 and now - as_utc(self.window_started_at) >= rule.window:
            self.count = 0
            self.window_started_at = now
        self.count += 1
        over = self.count - rule.free
        if over >= 0:
            self.blocked_until = now + min(rule.ceiling, rule.base * 2 ** min(over, 30))
