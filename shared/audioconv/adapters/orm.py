"""SQLAlchemy tables, mapped onto the plain domain classes (imperative mapping)."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry
from sqlalchemy.sql.expression import false, true
from sqlalchemy.types import TypeDecorator

from audioconv.domain.account import TOKEN_ID_CHARS, ApiToken
from audioconv.domain.api_key import HASH_CHARS, MAX_KEY_NAME_CHARS, PREFIX_CHARS, ApiKey
from audioconv.domain.batch import MAX_BATCH_NAME_CHARS, Batch
from audioconv.domain.media import Probe
from audioconv.domain.model import (
    EXACT_LENGTH_REASON_CHARS,
    Task,
    TaskStatus,
    User,
    WebhookAttempt,
    as_utc,
)
from audioconv.domain.options import ConversionOptions, stored_options
from audioconv.domain.preset import MAX_PRESET_NAME_CHARS, Preset
from audioconv.domain.throttle import Throttle

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value) if value is not None else None


class ProbeJson(TypeDecorator[Probe]):
    """A file's probe (domain/media.py) as the JSON record it has always been stored as."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Probe | None, dialect: Dialect) -> Any:
        return value.as_record() if value is not None else None

    def process_result_value(self, value: Any, dialect: Dialect) -> Probe | None:
        return Probe.from_record(value)


class OptionsJson(TypeDecorator[ConversionOptions]):
    """Conversion options as the JSON of those set (NULL: none were)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: ConversionOptions | None, dialect: Dialect) -> Any:
        return value.as_json() if value is not None else None

    def process_result_value(self, value: Any, dialect: Dialect) -> ConversionOptions:
        return stored_options(value) if value else _DEFAULTS


# Most tasks set no option: they share one (frozen) value rather than each validating {}.
_DEFAULTS = ConversionOptions()


class WebhookAttemptsJson(TypeDecorator[tuple[WebhookAttempt, ...]]):
    """A task's webhook delivery attempts as a JSON list (NULL: none yet)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: tuple[WebhookAttempt, ...] | None, dialect: Dialect) -> Any:
        return [attempt.as_json() for attempt in value] if value else None

    def process_result_value(self, value: Any, dialect: Dialect) -> tuple[WebhookAttempt, ...]:
        return tuple(WebhookAttempt.from_json(entry) for entry in value or ())


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(150), nullable=False, unique=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("webhook_url", String(2048)),
    # Sealed (Fernet, domain/webhook_events.seal_secret): migration 0011 sealed older ones.
    Column("webhook_secret", String(255)),
    Column("email_notifications", Boolean, nullable=False, server_default=true()),
    Column("email_verified_at", UtcDateTime()),
    # SQLite: AUTOINCREMENT, so the id of a deleted row is never given out again.
    sqlite_autoincrement=True,
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("file_name", String(255), nullable=False),
    Column("input_format", String(16), nullable=False),
    Column("output_format", String(16), nullable=False),
    Column("input_key", String(1024), nullable=False),
    Column("output_key", String(1024)),
    # A PNG of input and output waveforms, stored beside the output (when the report
    # pass made one).
    Column("waveform_key", String(1024)),
    # Its report pass (loudness, exact length, waveform) is still to run.
    Column("report_due", Boolean, nullable=False, server_default=false()),
    # A processed track of an album still waiting for its album gain tags.
    Column("album_gain_due", Boolean, nullable=False, server_default=false()),
    Column(
        "status",
        Enum(
            TaskStatus,
            name="task_status",
            native_enum=False,
            values_callable=lambda e: [m.value for m in e],
            length=16,
        ),
        nullable=False,
        index=True,
    ),
    Column("revision", Integer, nullable=False),
    Column("error", Text),
    Column("input_probe", ProbeJson()),
    Column("output_probe", ProbeJson()),
    Column("options", OptionsJson()),
    Column("progress", Float, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("lease_expires_at", UtcDateTime()),
    Column("claim_token", String(32)),
    Column("input_bytes", BigInteger, nullable=False, server_default="0"),
    Column("output_bytes", BigInteger, nullable=False, server_default="0"),
    Column("notified_revision", Integer, nullable=False),
    Column("notified_at", UtcDateTime()),
    Column("webhook_url", String(2048)),
    Column("webhook_deliveries", WebhookAttemptsJson()),
    Column("webhook_due_at", UtcDateTime()),
    Column(
        "batch_id",
        Integer,
        ForeignKey("batches.id", name="fk_tasks_batch_id", ondelete="SET NULL"),
        index=True,
    ),
    # An earlier revision's output, kept until a new one replaces it (migration 0011).
    Column("kept_output_key", String(1024)),
    Column("kept_output_format", String(16)),
    Column("kept_output_bytes", BigInteger, nullable=False, server_default="0"),
    # Quota held for the output being made (its predicted upper bound).
    Column("reserved_bytes", BigInteger, nullable=False, server_default="0"),
    # A URL import's source (migration 0018).
    Column("source_url", Text),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # What the output keeps and warns of (domain/fidelity.py), for its revision.
    Column("warnings", JSON),
    Column("verified", Boolean),
    Column("exact_length", Boolean),
    Column("exact_length_reason", String(EXACT_LENGTH_REASON_CHARS)),
    # When the sweep deletes the task (AUDIOCONV_RETENTION_HOURS; migration 0017).
    Column("expires_at", UtcDateTime(), index=True),
    UniqueConstraint("input_key", name="uq_tasks_input_key"),
    sqlite_autoincrement=True,
)

# Tasks uploaded together (domain/batch.py); a task names its batch.
batches = Table(
    "batches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("name", String(MAX_BATCH_NAME_CHARS)),
    Column("created_at", UtcDateTime(), nullable=False),
    sqlite_autoincrement=True,
)

# Failed log-ins and sign-ups per key (client address, account), shared by every
# process and instance: what the throttle decides on.
throttles = Table(
    "throttles",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("window_started_at", UtcDateTime(), nullable=False),
    Column("blocked_until", UtcDateTime()),
)

# Direct-upload ids that have been used: a signed upload URL works once, for good.
used_uploads = Table(
    "used_uploads",
    metadata,
    Column("upload_id", String(32), primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("used_at", UtcDateTime(), nullable=False),
)

# The webhook URL a direct upload's task gets, from the start of the upload until
# the file arrives and the task is made.
upload_webhooks = Table(
    "upload_webhooks",
    metadata,
    Column("upload_id", String(32), primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # Whose upload it is (none on rows older than 0012): deleted with the account.
    Column("user_id", Integer, index=True),
)

# The embedded mode's event queue (adapters/sql_queue.py): one row per message.
messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(32), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("dedupe_key", String(64), nullable=False),
    Column("data", JSON, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("available_at", UtcDateTime(), nullable=False, index=True),
    Column("created_at", UtcDateTime(), nullable=False),
    # The worker process handling it (its worker_id), while one is.
    Column("holder", String(16)),
    # Whose share of the slots it counts against (a conversion request: its owner's id).
    Column("group_key", String(64)),
    UniqueConstraint("topic", "dedupe_key", name="uq_messages_topic_dedupe_key"),
    sqlite_autoincrement=True,
)

# The record of each API token still standing (domain/account.py): a request's token is
# honoured only while its row exists.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(TOKEN_ID_CHARS), primary_key=True),
    Column(
        "user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
)

# API keys (domain/api_key.py): a key stands while its row exists; only its hash is kept.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("name", String(MAX_KEY_NAME_CHARS), nullable=False),
    Column("prefix", String(PREFIX_CHARS), nullable=False),
    Column("secret_hash", String(HASH_CHARS), nullable=False, unique=True),
    Column("scopes", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime()),
    sqlite_autoincrement=True,
)

# Presets (domain/preset.py): a user's named format and options.
presets = Table(
    "presets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("name", String(MAX_PRESET_NAME_CHARS), nullable=False),
    Column("output_format", String(16), nullable=False),
    Column("options", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("user_id", "name", name="uq_presets_user_id_name"),
    sqlite_autoincrement=True,
)

mapper_registry = registry(metadata=metadata)
_mapped = False
_mapping = threading.Lock()


def start_mappers() -> None:
    """Map the domain classes onto the tables (once per process, whichever thread asks)."""
    global _mapped
    with _mapping:
        if _mapped:
            return
        mapper_registry.map_imperatively(User, users)
        mapper_registry.map_imperatively(Task, tasks)
        mapper_registry.map_imperatively(Throttle, throttles)
        mapper_registry.map_imperatively(Batch, batches)
        mapper_registry.map_imperatively(ApiToken, api_tokens)
        mapper_registry.map_imperatively(ApiKey, api_keys)
        mapper_registry.map_imperatively(Preset, presets)
        _mapped = True
