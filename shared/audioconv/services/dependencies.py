"""What every service needs: the settings, one adapter per port, and the clock.

The composition root (``bootstrap.build``) makes one per process; tests make
theirs from fakes. Services take it as their first argument (``deps``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from audioconv.config import Settings
from audioconv.domain.model import utcnow
from audioconv.ports import (
    BlobStore,
    EventBus,
    Mailer,
    Transcoder,
    UnitOfWorkFactory,
    UrlFetcher,
    WebhookSender,
)
from audioconv.services.recent_logins import RecentLogins


@dataclass
class Dependencies:
    settings: Settings
    uow: UnitOfWorkFactory
    blobs: BlobStore
    bus: EventBus
    mailer: Mailer
    transcoder: Transcoder
    webhooks: WebhookSender
    clock: Callable[[], datetime] = field(default=utcnow)
    # Passwords argon2 accepted lately in this process (settings.login_cache_seconds).
    recent_logins: RecentLogins = field(default_factory=RecentLogins)
    # Releases what the adapters hold (pools, threads), last to first; see ``close``.
    on_close: list[Callable[[], None]] = field(default_factory=list)
    # Fetches URL imports' files (services/url_import.py); None: this process does not.
    fetcher: UrlFetcher | None = None

    def close(self) -> None:
        """Release everything, once, at shutdown."""
        for release in reversed(self.on_close):
            release()
