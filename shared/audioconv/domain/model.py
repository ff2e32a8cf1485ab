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
    # What the user should know about this revision's output (domain/fidelity.py: an
    # upscale, a lossy input made lossless, clipping), whether it was proven to decode
    # to the input's very samples (None: no such promise), and whether its container
    # says its exact length (None until converted; the reason when it cannot).
    warnings: list[str] | None = None
    verified: bool | None = None
    exact_length: bool | None = None
    exact_length_reason: str | None = None
    # The output of an earlier revision, kept (downloadable) while this revision is
    # converted, and after it failed, until a new output replaces it: a convert-again
    # never loses what the user had. Its format names its file and type.
    kept_output_key: str | None = None
    kept_output_format: str | None = None
    kept_output_bytes: int = 0
    # Bytes held against the owner's storage quota for the output to come (its
    # predicted upper bound, domain/output_size.py) while the task is in flight.
    reserved_bytes: int = 0
    # When the sweep deletes it and its files (AUDIOCONV_RETENTION_HOURS after it was
    # made); None: kept until its owner deletes it.
    expires_at: datetime | None = None
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
    def kept_output_name(self) -> str | None:
        """File name of the kept output (its own format's extension), if one is kept."""
        if not self.kept_output_key or not self.kept_output_format:
            return None
        fmt = FORMATS.get(self.kept_output_format)
        ext = fmt.extension if fmt else self.kept_output_format
        return f"{PurePath(self.file_name).stem}.{ext}"

    @property
    def stored_bytes(self) -> int:
        """What the task counts against its owner's storage quota: its files, and the
        room reserved for the output it is converting."""
        return self.input_bytes + self.output_bytes + self.kept_output_bytes + self.reserved_bytes

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
        fidelity: Fidelity | None = None,
    ) -> str | None:
        """Converted: the output and what was measured on the way (the input's
        loudness joins its stored probe, since the input stays the same file);
        ``report_due``: its report pass is still to run; ``fidelity``: what the
        conversion kept and warns of. Returns the key of the output it replaces
        (kept until now), to delete once this is committed."""
        kept = fidelity or Fidelity()
        self.warnings = list(kept.warnings) or None
        self.verified = kept.verified
        self.exact_length = kept.inexact is None
        self.exact_length_reason = kept.inexact
        replaced = self.kept_output_key
        self.kept_output_key = self.kept_output_format = None
        self.kept_output_bytes = self.reserved_bytes = 0
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
        return replaced

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
        loudness_reasons: tuple[str | None, str | None] = (None, None),
        warning: str | None = None,
    ) -> None:
        """The report pass ran: record what it measured (any of it may be missing: a
        failed pass records nothing) and the waveform picture it drew; why the input's
        and the output's loudness were not measured (``loudness_reasons``), and a
        ``warning`` of what it found. ``updated_at`` stays the time the task finished
        (its events' time, the sweep's grace)."""
        self.report_due = False
        self.waveform_key = waveform_key
        self._input_loudness(input_loudness)
        if loudness_reasons[0] is not None and self.input_probe is not None:
            self.input_probe = {**self.input_probe, "loudnessReason": loudness_reasons[0]}
        if warning is not None:
            self.warnings = [*(self.warnings or []), warning]
        if self.output_probe is not None:
            probe = dict(self.output_probe)
            if output_loudness is not None:
                probe["loudness"] = output_loudness
            if loudness_reasons[1] is not None:
                probe["loudnessReason"] = loudness_reasons[1]
            if output_seconds:
                probe["duration"] = round(output_seconds, 3)
                probe["bitrate"] = average_bitrate(self.output_bytes, output_seconds)
            self.output_probe = probe

    def fail(self, reason: str, now: datetime) -> None:
        """Failed: ``reason`` says why; a kept output stays (still downloadable)."""
        self.status = TaskStatus.FAILED
        self.reserved_bytes = 0
        self.claim_token = None
        self.report_due = False
        self._forget_fidelity()
        self.error = reason
        self.lease_expires_at = None
        self.updated_at = now

    def retarget(
        self,
        output_format: str,
        now: datetime,
        options: dict[str, Any] | None = None,
        reserve: int = 0,
    ) -> None:
        """Convert again to ``output_format``, holding ``reserve`` bytes of quota for the
        new output. The current output (if any) is kept, downloadable, until the new one
        replaces it (``succeed``); an output kept from before stays kept. Read
        ``waveform_key`` before: the waveform is not kept (it goes with its revision)."""
        if self.output_key:
            self.kept_output_key = self.output_key
            self.kept_output_format = self.output_format
            self.kept_output_bytes = self.output_bytes
        self.reserved_bytes = reserve
        self.output_format = output_format
        self.options = options
        self.revision += 1
        self.status = TaskStatus.UPLOADED
        self.output_key = None
        self.output_bytes = 0
        self.output_probe = None
        self.waveform_key = None
        self.report_due = False
        self._forget_fidelity()
        self.claim_token = None
        self.error = None
        self.progress = 0.0
        self.attempts = 0
        self.lease_expires_at = None
        self.updated_at = now

    def _forget_fidelity(self) -> None:
        """No output: nothing to warn of, prove or measure."""
        self.warnings = None
        self.verified = None
        self.exact_length = None
        self.exact_length_reason = None

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


# The longest reason a format gives for not saying its exact length.
EXACT_LENGTH_REASON_CHARS = 300


@dataclass(frozen=True)
class Fidelity:
    """What a conversion kept and warns of (domain/fidelity.py decides it)."""

    warnings: tuple[str, ...] = ()
    verified: bool | None = None
    inexact: str | None = None


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
