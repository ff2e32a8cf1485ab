"""The composition root: resolve the settings' secrets, wire one adapter per port, and
bind the message handlers to those adapters.

Each process calls ``build`` once where it starts (through ``startup.start``: the
functions, the embedded server's children, the pull worker, the command line) and
hands the result on: to ``create_app`` for the API, to ``subscriptions`` for the
handlers. Nothing is kept in a process global.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from functools import wraps
from typing import Protocol, TypeVar

from sqlalchemy import Engine

from audioconv import logs
from audioconv.adapters import queue_wakeup
from audioconv.adapters.database import SqlUnitOfWork, make_engine, session_factory
from audioconv.adapters.ffmpeg import FfmpegTranscoder
from audioconv.adapters.inprocess_bus import InProcessBus
from audioconv.adapters.sql_queue import SqlQueueBus, SqlQueueConsumer
from audioconv.adapters.url_fetcher import HttpUrlFetcher
from audioconv.adapters.webhook_sender import HttpWebhookSender
from audioconv.config import MIN_CLOUD_SECRET_CHARS, SECRET_REFERENCES, Settings
from audioconv.entrypoints.subscriptions import Subscription, Subscriptions, subscriptions
from audioconv.ports import BlobStore, EventBus, Mailer, MessageHandler
from audioconv.services.dependencies import Dependencies

# The topics' handlers, bound (entrypoints/subscriptions.py): here too for the functions.
__all__ = ["Subscription", "Subscriptions", "build", "once", "resolve_secrets", "subscriptions"]

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


class SettingsError(ValueError):
    """The settings cannot start a process (a secret unreadable, a key too short)."""


def resolve_secrets(settings: Settings) -> Settings:
    """``settings`` with every secret in hand, each hidden from every log line.

    Each secret setting that names a Secret Manager version is read from it (one
    client, only when one is named); an empty signing key is, in the embedded mode,
    the one generated once and kept in data_dir; in the cloud every instance must
    share one configured key of at least MIN_CLOUD_SECRET_CHARS. Idempotent: what it
    returns has no version names left to read.
    """
    wanted = {
        field: getattr(settings, reference)
        for field, reference in SECRET_REFERENCES.items()
        if getattr(settings, reference)
    }
    update: dict[str, str] = {}
    if wanted:
        from audioconv.adapters.secret_manager import SecretUnavailable, read_secrets

        try:
            values = read_secrets(wanted)
        except SecretUnavailable as exc:
            raise SettingsError(f"cannot read a secret from Secret Manager: {exc}") from None
        for field, value in values.items():
            update[field] = value
            update[SECRET_REFERENCES[field]] = ""
    key = update.get("secret_key", settings.secret_key)
    cloud = settings.cloud_backends()
    if cloud and len(key) < MIN_CLOUD_SECRET_CHARS:
        raise SettingsError(
            f"AUDIOCONV_SECRET_KEY must be set to at least {MIN_CLOUD_SECRET_CHARS} "
            f"random characters when a cloud backend is configured ({', '.join(cloud)}); "
            f"it is {'empty' if not key else 'too short'}"
        )
    if not key:
        update["secret_key"] = _key_file(settings)
    resolved = settings.model_copy(update=update) if update else settings
    logs.hide(resolved.secret_key, resolved.db_password, resolved.smtp_password,
              resolved.sweep_token)  # fmt: skip
    return resolved


def _key_file(settings: Settings) -> str:
    """The embedded mode's signing key: made once (0600) in data_dir, read after."""
    path = settings.data_dir / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as out:
        out.write(key)
    return key


def build(settings: Settings | None = None) -> Dependencies:
    """Wire the adapters the settings choose (the in-process bus subscribed to the
    handlers), their secrets resolved first (``resolve_secrets``)."""
    settings = resolve_secrets(settings if settings is not None else Settings())
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
