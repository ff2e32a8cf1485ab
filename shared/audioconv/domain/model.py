"""Users and conversion tasks, and the task state machine.

States: ``uploaded`` -> ``processing`` -> ``processed`` | ``failed``.
Changing the target format puts a task back to ``uploaded`` with a new
revision; work for an older revision is ignored.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import PurePath
from typing import Any

from audioconv.domain.formats import FORMATS
from audioconv.domain.media import average_bitrate

# Ids are 32-bit integer columns: anything outside this range names no row.
MAX_ID = 2**31 - 1


def valid_id(value: int) -> bool:
    """Whether ``value`` could be the id of a stored user or task."""
    return 1 <= value <= MAX_ID


def utcnow() -> datetime:
    """Now, timezone-aware UTC (stored naive-free everywhere)."""
    return datetime.now(UTC)


class TaskStatus(enum.StrEnum):
    UPLOADED = "uploaded"
    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"


@dataclass(eq=False)
class User:
    username: str
    email: str
    password_hash: str
    id: int | None = None
    created_at: datetime = field(default_factory=utcnow)
    # Where finished tasks are announced (a task's own URL wins), the key that signs
    # those events (made on first use), and whether mails are sent too.
    webhook_url: str | None = None
    webhook_secret: str | None = None
    email_notifications: bool = True
    # When the owner followed the verification link mailed to ``email`` (None: not yet,
    # and no completion mail goes there; a changed address is unverified again).
    email_verified_at: datetime | None = None


class ClaimOutcome(enum.Enum):
    """What ``Task.claim`` found: what a conversion request for (task, revision) does now."""

    RUN = "run"  # claimed: convert it
    STALE = "stale"  # an older revision, or already finished: acknowledge, do nothing
    BUSY = "busy"  # another worker holds a live lease: redeliver later


@dataclass(eq=False)
class Task:
    user_id: int
    file_name: str
    input_format: str
    output_format: str
    input_key: str
    status: TaskStatus = TaskStatus.UPLOADED
    revision: int = 1
    output_key: str | None = None
    error: str | None = None
    input_probe: dict[str, Any] | None = None
    output_probe: dict[str, Any] | None = None
    # Conversion options the client chose (ConversionOptions.as_json); None = defaults.
    options: dict[str, Any] | None = None
    progress: float = 0.0
    attempts: int = 0
    lease_expires_at: datetime | None = None
    # Unique to the current claim: the fencing token every write of an attempt checks.
    claim_token: str | None = None
    # Stored sizes, for the owner's storage quota.
    input_bytes: int = 0
    output_bytes: int = 0
    notified_revision: int = 0
    # When its owner was last told of a finished revision (mail, webhook): one
    # notification per task per window, the latest revision's (services/notification.py).
    notified_at: datetime | None = None
    # This task's own webhook (else its owner's), and every delivery attempt's outcome.
    webhook_url: str | None = None
    webhook_deliveries: list[dict[str, Any]] | None = None
    # When this revision's webhook attempt is due (None: none is): the sweep
    # republishes an attempt whose message was lost.
    webhook_due_at: datetime | None = None
    # A PNG of the input's and output's waveforms (made by the report pass), if any.
    waveform_key: str | None = None
    # The report pass (loudness, exact length, waveform) of this revision's output is
    # still to run: the sweep republishes its request while this holds.
    report_due: bool = False
    # The batch it was uploaded in (domain/batch.py), if any.
    batch_id: int | None = None
    id: int | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    @property
    def output_name(self) -> str:
        """File name of the converted file: the original stem, the new extension."""
        fmt = FORMATS.get(self.output_format)
        ext = fmt.extension if fmt else self.output_format
        return f"{PurePath(self.file_name).stem}.{ext}"

    @property
    def refused(self) -> bool:
        """Refused when its file arrived (not audio, too large, over quota): no probe of
        its input was ever stored, as there was none to make."""
        return self.input_probe is None

    @property
    def finished(self) -> bool:
        return self.status in (TaskStatus.PROCESSED, TaskStatus.FAILED)

    def claim(
        self, revision: int, now: datetime, lease: timedelta, claimant: str = ""
    ) -> ClaimOutcome:
        """Take the task for converting ``revision``, if that is still due; the claim's
        token names ``claimant`` (a worker process), if given (see ``claim_prefix``)."""
        if revision != self.revision or self.finished:
            return ClaimOutcome.STALE
        if (
            self.status is TaskStatus.PROCESSING
            and self.lease_expires_at is not None
            and as_utc(self.lease_expires_at) > now
        ):
            return ClaimOutcome.BUSY
        self.status = TaskStatus.PROCESSING
        self.attempts += 1
        self.claim_token = new_claim_token(claimant)
        self.progress = 0.0
        self.lease_expires_at = now + lease
        self.updated_at = now
        return ClaimOutcome.RUN

    def renew(self, now: datetime, lease: timedelta, progress: float) -> None:
        self.lease_expires_at = now + lease
        self.progress = progress

    def holds(self, revision: int, claim_token: str) -> bool:
        """Whether the attempt that claimed ``revision`` with ``claim_token`` still runs it.

        The token is unique to one claim, so no other attempt, and no row that reuses
        numbers (an id, a revision, an attempt count), can ever match it.
        """
        return (
            self.status is TaskStatus.PROCESSING
            and self.revision == revision
            and self.claim_token == claim_token
        )

    def claimed_by(self, claimant: str) -> bool:
        """Whether a claim of ``claimant`` (a worker process) holds the task now."""
        return (
            self.status is TaskStatus.PROCESSING
            and self.claim_token is not None
            and self.claim_token.startswith(claim_prefix(claimant))
        )

    def release(self, now: datetime) -> None:
        """Give a claimed task back (a transient failure): it is due again at once."""
        self.status = TaskStatus.UPLOADED
        self.claim_token = None
        self.lease_expires_at = None
        self.updated_at = now

    def interrupted(self, now: datetime) -> None:
        """Give back a task whose process died (the embedded start-up): due again at once,
        and that attempt is not counted against the task, since the file was not at fault."""
        self.release(now)
        self.attempts = max(0, self.attempts - 1)

    def succeed(
        self,
        output_key: str,
        probe: dict[str, Any],
        size: int,
        now: datetime,
        *,
        input_loudness: dict[str, float] | None = None,
        report_due: bool = False,
    ) -> None:
        """Converted: the output and what was measured on the way (the input's
        loudness joins its stored probe, since the input stays the same file);
        ``report_due``: its report pass is still to run."""
        self.status = TaskStatus.PROCESSED
        self.claim_token = None
        self.output_key = output_key
        self.output_bytes = size
        self.output_probe = probe
        self.waveform_key = None
        self.report_due = report_due
        self._input_loudness(input_loudness)
        self.error = None
        self.progress = 100.0
        self.lease_expires_at = None
        self.updated_at = now

    def _input_loudness(self, loudness: dict[str, float] | None) -> None:
        if loudness is not None and self.input_probe is not None:
            self.input_probe = {**self.input_probe, "loudness": loudness}

    def awaits_report(self, revision: int, output_key: str | None = None) -> bool:
        """Whether the report pass of ``revision`` (of its output ``output_key``, when
        given) is still due: not once done, retargeted or finished otherwise."""
        return (
            self.report_due
            and self.status is TaskStatus.PROCESSED
            and self.revision == revision
            and (output_key is None or self.output_key == output_key)
        )

    def reported(
        self,
        *,
        input_loudness: dict[str, float] | None = None,
        output_loudness: dict[str, float] | None = None,
        output_seconds: float | None = None,
        waveform_key: str | None = None,
    ) -> None:
        """The report pass ran: record what it measured (any of it may be missing: a
        failed pass records nothing) and the waveform picture it drew. ``updated_at``
        stays the time the task finished (its events' time, the sweep's grace)."""
        self.report_due = False
        self.waveform_key = waveform_key
        self._input_loudness(input_loudness)
        if self.output_probe is not None:
            probe = dict(self.output_probe)
            if output_loudness is not None:
                probe["loudness"] = output_loudness
            if output_seconds:
                probe["duration"] = round(output_seconds, 3)
                probe["bitrate"] = average_bitrate(self.output_bytes, output_seconds)
            self.output_probe = probe

    def fail(self, reason: str, now: datetime) -> None:
        self.status = TaskStatus.FAILED
        self.claim_token = None
        self.report_due = False
        self.error = reason
        self.lease_expires_at = None
        self.updated_at = now

    def retarget(
        self, output_format: str, now: datetime, options: dict[str, Any] | None = None
    ) -> str | None:
        """Convert again to ``output_format``; returns the old output key to delete
        (read ``waveform_key`` before: it goes too)."""
        old = self.output_key
        self.output_format = output_format
        self.options = options
        self.revision += 1
        self.status = TaskStatus.UPLOADED
        self.output_key = None
        self.output_bytes = 0
        self.output_probe = None
        self.waveform_key = None
        self.report_due = False
        self.claim_token = None
        self.error = None
        self.progress = 0.0
        self.attempts = 0
        self.lease_expires_at = None
        self.updated_at = now
        return old

    def may_notify(self, now: datetime, window: timedelta) -> bool:
        """Whether its owner may be told of a finished revision now: never told yet, or
        told at least ``window`` ago (what finishes within it is told after it)."""
        return self.notified_at is None or as_utc(self.notified_at) + window <= now

    def is_due(self, now: datetime) -> bool:
        """Still has to run: uploaded, or processing under a lease that ran out."""
        if self.status is TaskStatus.UPLOADED:
            return True
        return self.status is TaskStatus.PROCESSING and (
            self.lease_expires_at is None or as_utc(self.lease_expires_at) <= now
        )


# The claim token column's width: a claimant's name and the separator take from the
# random part, which keeps at least 19 hex digits (76 bits) for the longest name.
CLAIM_TOKEN_CHARS = 32
CLAIMANT_MAX_CHARS = 12


def claim_prefix(claimant: str) -> str:
    """How every claim token of ``claimant`` starts; no other claimant's token (nor an
    unnamed one, plain hex) starts the same way, as names hold no separator."""
    if not claimant or len(claimant) > CLAIMANT_MAX_CHARS or "." in claimant:
        raise ValueError(f"not a claimant's name: {claimant!r}")
    return f"{claimant}."


def new_claim_token(claimant: str = "") -> str:
    """A token unique to one claim, naming ``claimant`` if given."""
    random = uuid.uuid4().hex
    if not claimant:
        return random
    return (claim_prefix(claimant) + random)[:CLAIM_TOKEN_CHARS]


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; all of ours are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
