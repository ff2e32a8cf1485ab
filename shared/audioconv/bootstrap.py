"""The composition root: read the configuration once and wire one adapter per port."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from cloudevents.http import CloudEvent
from sqlalchemy import Engine

from audioconv.adapters.database import SqlUnitOfWork, make_engine, session_factory
from audioconv.adapters.ffmpeg import FfmpegTranscoder
from audioconv.adapters.sql_queue import SqlQueueBus, SqlQueueConsumer
from audioconv.adapters.webhook_sender import HttpWebhookSender
from audioconv.config import Settings
from audioconv.ports import BlobStore, EventBus, Mailer
from audioconv.services.deps import Deps

_lock = threading.Lock()
_deps: Deps | None = None


def build(settings: Settings | None = None) -> Deps:
    """Wire the adapters the settings choose."""
    settings = settings or Settings()
    engine = make_engine(settings)
    sessions = session_factory(engine)
    bus = _bus(settings, engine)
    transcoder = FfmpegTranscoder(
        settings.ffmpeg_path,
        settings.ffprobe_path,
        settings.ffmpeg_nice,
        settings.max_input_seconds,
        max_bytes=settings.max_upload_bytes,
        max_streams=settings.max_streams,
        memory_mb=settings.ffmpeg_memory_mb,
        cpu_seconds_per_input_second=settings.ffmpeg_cpu_seconds_per_input_second,
        cpu_floor_seconds=settings.ffmpeg_cpu_floor_seconds,
    )
    return Deps(
        settings=settings,
        uow=lambda readonly=False: SqlUnitOfWork(sessions, readonly=readonly),
        blobs=_blobs(settings),
        bus=bus,
        mailer=_mailer(settings),
        transcoder=transcoder,
        webhooks=HttpWebhookSender(
            settings.resolved_webhook_allow_http,
            settings.webhook_allow_private,
            settings.webhook_timeout_seconds,
        ),
        # Released last to first: kill ffmpeg children (their work is released for a
        # retry), let the bus's threads finish, then close the connection pool.
        on_close=[engine.dispose, getattr(bus, "shutdown", lambda: None), transcoder.kill_children],
    )


def _blobs(settings: Settings) -> BlobStore:
    if settings.blob_backend == "gcs":
        from audioconv.adapters.gcs_blob import GcsBlobStore

        return GcsBlobStore(settings.gcs_bucket, signer_email=settings.signing_service_account)
    from audioconv.adapters.local_blob import LocalBlobStore

    return LocalBlobStore(
        settings.data_dir / "blobs",
        upload_base=f"{settings.resolved_public_url}/api/blobs",
        secret=settings.signing_key,
    )


def _bus(settings: Settings, engine: Engine) -> EventBus:
    if settings.event_backend == "pubsub":
        from audioconv.adapters.pubsub_bus import PubSubBus

        return PubSubBus(settings.gcp_project)
    if settings.event_backend == "queue":
        return SqlQueueBus(engine)
    from audioconv.adapters.inprocess_bus import InProcessBus

    bus = InProcessBus(max_attempts=settings.max_attempts)
    _subscribe(bus, settings)
    return bus


class _Subscriber(Protocol):
    def subscribe(self, topic: str, handler: Callable[[CloudEvent], None], workers: int) -> None:
        """Deliver ``topic``'s messages to ``handler`` on ``workers`` threads."""


def _subscribe(subscriber: _Subscriber, settings: Settings) -> None:
    """The worker's and the notifier's handlers, on the embedded mode's bus or queue."""
    from audioconv.entrypoints import events

    slots = settings.conversion_slots
    subscriber.subscribe(settings.conversion_topic, events.handle_conversion, slots)
    subscriber.subscribe(settings.finished_topic, events.handle_finished, 2)
    subscriber.subscribe(settings.webhook_topic, events.handle_webhook, 4)


def _mailer(settings: Settings) -> Mailer:
    from audioconv.adapters import mail

    if settings.mail_backend == "smtp":
        return mail.SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_from,
            settings.smtp_user,
            settings.smtp_password,
            settings.smtp_starttls,
        )
    if settings.mail_backend == "console":
        return mail.ConsoleMailer(settings.mail_from)
    return mail.FolderMailer(settings.data_dir / "mail", settings.mail_from)


def queue_consumer(settings: Settings, deps: Deps) -> SqlQueueConsumer:
    """The consumer of the embedded queue (the worker process), subscribed to the handlers.

    It is stopped with ``deps``: after the ffmpeg children, before the database.
    """
    from audioconv.entrypoints import events

    assert isinstance(deps.bus, SqlQueueBus)
    consumer = SqlQueueConsumer(deps.bus.engine, max_attempts=settings.max_attempts)
    consumer.subscribe(
        settings.conversion_topic, events.handle_conversion, settings.conversion_slots
    )
    consumer.subscribe(settings.finished_topic, events.handle_finished, 2)
    consumer.subscribe(settings.webhook_topic, events.handle_webhook, 4)
    deps.on_close.insert(1, consumer.shutdown)
    return consumer


def deps() -> Deps:
    """The process-wide dependencies, built on first use."""
    global _deps
    if _deps is None:
        with _lock:
            if _deps is None:
                _deps = build()
    return _deps


def install(new: Deps | None) -> None:
    """Replace the process-wide dependencies (tests, the embedded server)."""
    global _deps
    with _lock:
        _deps = new
