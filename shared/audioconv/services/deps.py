"""What every service needs, wired once by the composition root (bootstrap)."""

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
    WebhookSender,
)


@dataclass
class Deps:
    settings: Settings
    uow: UnitOfWorkFactory
    blobs: BlobStore
    bus: EventBus
    mailer: Mailer
    transcoder: Transcoder
    webhooks: WebhookSender
    clock: Callable[[], datetime] = field(default=utcnow)
    # Releases what the adapters hold (pools, threads); called once at shutdown.
    on_close: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for release in reversed(self.on_close):
            release()
