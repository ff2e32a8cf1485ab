"""The composition root: read the settings once, wire one adapter per port, and bind
the message handlers to those adapters.

Each process calls ``build`` once where it starts (``functions/*/main.py``, the
embedded server's children, the command line) and hands the result on: to
``create_app`` for the API, to ``subscriptions`` for the handlers. Nothing is
kept in a process global.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial, wraps
from typing import NamedTuple, Protocol, TypeVar

from sqlalchemy import Engine

from audioconv.adapters import queue_wakeup
from audioconv.adapters.database import SqlUnitOfWork, make_engine, session_factory
from audioconv.adapters.ffmpeg import FfmpegTranscoder
from audioconv.adapters.inprocess_bus import InProcessBus
from audioconv.adapters.sql_queue import SqlQueueBus, SqlQueueConsumer
from audioconv.adapters.url_fetcher import HttpUrlFetcher
from audioconv.adapters.webhook_sender import HttpWebhookSender
from audioconv.config import Settings
from audioconv.entrypoints import events
from audioconv.ports import BlobStore, EventBus, Mailer, MessageHandler
from audioconv.services.dependencies import Dependencies

T = TypeVar("T")


def once(factory: Callable[[], T]) -> Callable[[], T]:
    """``factory``'s result, made on the first call in this process and shared after.

    For the functions, which build on their first request: a server with several
    threads takes several first requests at once, and each must not build its own
    adapters (``functools.cache`` lets them all run the factory).
    """
    lock = threading.Lock()
    made: list[T] = []

    @wraps(factory)
    def get() -> T:
        if not made:
            with lock:
                if not made:
                    made.append(factory())
        return made[0]

    return get


def build(settings: Settings | None = None) -> Dependencies:
    """Wire the adapters the settings choose (the in-process bus subscribed to the handlers)."""
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
    deps = Dependencies(
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
        on_close=[engine.dispose, bus.close, transcoder.kill_children],
        fetcher=HttpUrlFetcher(
            [net for net in settings.import_allow_networks.split(",") if net.strip()],
            settings.import_timeout_seconds,
        ),
    )
    if isinstance(bus, InProcessBus):
        subscribe(bus, deps)
    return deps


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
        fds = queue_wakeup.parse_fds(settings.wake_fds)
        return SqlQueueBus(engine, queue_wakeup.SocketWaker(fds).wake if fds else None)
    return InProcessBus(max_attempts=settings.max_attempts)


class Subscription(NamedTuple):
    """A topic, the handler bound to it, and how many messages it may handle at once.

    ``after``: another topic whose slots this one shares, served only when a slot is
    free and none of that topic's messages is waiting (lower priority).
    """

    topic: str
    handler: MessageHandler
    workers: int
    after: str | None = None


class Subscriptions(NamedTuple):
    """Every topic this service consumes, each with its handler bound to ``deps``.

    The one place a topic meets its handler: the embedded buses subscribe them
    all, and each cloud function serves one (``functions/*/main.py``). A new
    topic is a new field here.
    """

    conversion: Subscription
    # Direct uploads that arrived (in the cloud: the bucket's notifications, which
    # are pushed to the worker function beside the conversion requests).
    uploads: Subscription
    finished: Subscription
    # Report passes, in the conversions' slots once no conversion waits (in the cloud:
    # pulled by the worker beside the conversion requests).
    report: Subscription
    # Webhook delivery attempts (in the cloud: pushed to the notify function, whose
    # finished handler hands them on).
    webhooks: Subscription


def subscriptions(deps: Dependencies) -> Subscriptions:
    """The handlers of ``events``, bound to ``deps`` and to their topics."""
    settings = deps.settings
    return Subscriptions(
        conversion=Subscription(
            settings.conversion_topic,
            partial(events.handle_conversion, deps),
            settings.conversion_slots,
        ),
        uploads=Subscription(
            settings.direct_uploads_topic,
            partial(events.handle_upload, deps),
            settings.conversion_slots,
        ),
        finished=Subscription(settings.finished_topic, partial(events.handle_finished, deps), 2),
        report=Subscription(
            settings.report_topic,
            partial(events.handle_report, deps),
            settings.conversion_slots,
            after=settings.conversion_topic,
        ),
        # Each POST may wait up to its timeout: more threads than the notifier's.
        webhooks=Subscription(settings.webhook_topic, partial(events.handle_webhook, deps), 4),
    )


class _Subscriber(Protocol):
    def subscribe(
        self, topic: str, handler: MessageHandler, workers: int, after: str | None = None
    ) -> None:
        """Deliver ``topic``'s messages to ``handler`` on ``workers`` threads (those of
        ``after``'s, and only when none of its messages waits, if ``after`` is given)."""


def subscribe(subscriber: _Subscriber, deps: Dependencies) -> None:
    """Subscribe every handler, bound to ``deps``, on an embedded bus or queue consumer."""
    for subscription in subscriptions(deps):
        subscriber.subscribe(*subscription)


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


def queue_consumer(deps: Dependencies) -> SqlQueueConsumer:
    """The consumer of the embedded queue (the worker process), subscribed to the handlers.

    It is stopped with ``deps``: after the ffmpeg children, before the database.
    """
    assert isinstance(deps.bus, SqlQueueBus)
    settings = deps.settings
    consumer = SqlQueueConsumer(
        deps.bus.engine,
        max_attempts=settings.max_attempts,
        holder=settings.worker_id or None,
        wake_fd=settings.wake_fd,
        fair=[settings.conversion_topic],
        user_slots=settings.user_conversion_slots,
    )
    subscribe(consumer, deps)
    deps.on_close.insert(1, consumer.shutdown)
    return consumer
