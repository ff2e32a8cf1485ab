"""Users and conversion tasks, and the task state machine (``Task``'s docstring).

States: ``uploaded`` -> ``processing`` -> ``processed`` | ``failed``.
Changing the target format puts a task back to ``uploaded`` with a new
revision; work for an older revision is ignored.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import PurePath
from typing import Any

from audioconv.domain.errors import InvalidTransition
from audioconv.domain.formats import FORMATS
from audioconv.domain.gain import Gain
from audioconv.domain.media import Loudness, Probe, average_bitrate
from audioconv.domain.options import ConversionOptions

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


# Each event (a method of Task) and the state it leads to from each state; a state not
# listed does not allow it (InvalidTransition). Task's docstring shows it as a table.
_U, _P, _D, _F = (
    TaskStatus.UPLOADED,
    TaskStatus.PROCESSING,
    TaskStatus.PROCESSED,
    TaskStatus.FAILED,
)
TRANSITIONS: dict[str, dict[TaskStatus, TaskStatus]] = {
    "claim": {_U: _P, _P: _P, _D: _D, _F: _F},
    "renew": {_P: _P},
    "release": {_P: _U},
    "interrupted": {_P: _U},
    "succeed": {_P: _D},
    "fail": {_U: _F, _P: _F},
    "reported": {_D: _D},
    "retarget": {_U: _U, _P: _U, _D: _U, _F: _U},
    "notified": {_D: _D, _F: _F},
    "told_of_older": {_U: _U, _P: _P, _D: _D, _F: _F},
    "fetched": {_P: _P},
    "expires": {_U: _U, _P: _P, _D: _D, _F: _F},
    "gain_tagged": {_U: _U, _P: _P, _D: _D, _F: _F},
    "record_webhook_attempt": {_D: _D, _F: _F},
    "no_webhook_due": {_D: _D, _F: _F},
    "use_webhook": {_U: _U, _P: _P, _D: _D, _F: _F},
}


@dataclass(eq=False)
class Task:
    """One file to convert, and its state machine. Every change of its state is one of
    these methods (the services write no field themselves); from each state, each
    leads to the state shown, and ``-`` is not allowed (InvalidTransition, nothing
    changes). ``TRANSITIONS`` is this table as data (tests/unit/test_task_transitions.py
    checks they agree and walks every cell).

    ======================  ==========  ==========  =========  ========
    event                   uploaded    processing  processed  failed
    ======================  ==========  ==========  =========  ========
    claim                   processing  processing  processed  failed
    renew                   -           processing  -          -
    release                 -           uploaded    -          -
    interrupted             -           uploaded    -          -
    succeed                 -           processed   -          -
    fail                    failed      failed      -          -
    reported                -           -           processed  -
    retarget                uploaded    uploaded    uploaded   uploaded
    notified                -           -           processed  failed
    told_of_older           uploaded    processing  processed  failed
    fetched                 -           processing  -          -
    expires                 uploaded    processing  processed  failed
    gain_tagged             uploaded    processing  processed  failed
    record_webhook_attempt  -           -           processed  failed
    no_webhook_due          -           -           processed  failed
    use_webhook             uploaded    processing  processed  failed
    ======================  ==========  ==========  =========  ========

    ``claim`` changes nothing (and says so) for an older revision, a finished task
    (STALE) or a live lease (BUSY). ``retarget`` starts a new revision.
    """

    user_id: int
    file_name: str
    input_format: str
    output_format: str
    input_key: str
    status: TaskStatus = TaskStatus.UPLOADED
    revision: int = 1
    output_key: str | None = None
    error: str | None = None
    # What the input and this revision's output are (stored as JSON: adapters/orm.py).
    input_probe: Probe | None = None
    output_probe: Probe | None = None
    # Conversion options the client chose (none set: the format's defaults).
    options: ConversionOptions = field(default_factory=ConversionOptions)
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
    webhook_deliveries: tuple[WebhookAttempt, ...] = ()
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
    # Processed, with album gain asked for: its album's gain tags are still to be
    # written, once every track of the batch is converted (services/album_gain.py).
    album_gain_due: bool = False
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
    # A URL import: where the worker fetches the input from (services/url_import.py),
    # query string and all; shown and logged only without it.
    source_url: str | None = None
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
    def full_input_probe(self) -> Probe | None:
        """The input's stored probe if it holds all a conversion needs (older tasks
        stored less: the worker probes those again)."""
        probe = self.input_probe
        return probe if probe is not None and probe.complete else None

    @property
    def awaits_fetch(self) -> bool:
        """A URL import whose file has not been fetched yet (its input is fetched,
        probed and stored by the attempt that claims it, before converting)."""
        return self.source_url is not None and self.input_probe is None

    @property
    def shown_status(self) -> str:
        """The state a user sees: ``downloading`` while a URL import's file is still
        to fetch (a phase of the claim: the database says uploaded or processing)."""
        if self.awaits_fetch and not self.finished:
            return "downloading"
        return self.status.value

    def fetched(
        self, probe: Probe, input_format: str, size: int, name: str, reserve: int,
        now: datetime,
    ) -> None:  # fmt: skip
        """A URL import's file arrived, passed the checks and is stored under
        ``input_key``: record it (the claim goes on, converting it)."""
        self._move("fetched")
        self.input_probe = probe
        self.input_format = input_format
        self.input_bytes = size
        self.file_name = name
        self.reserved_bytes = reserve
        self.progress = 0.0
        self.updated_at = now

    @property
    def finished(self) -> bool:
        return self.status in (TaskStatus.PROCESSED, TaskStatus.FAILED)

    def _move(self, event: str) -> None:
        """Enter the state ``event`` leads to; InvalidTransition (nothing changed) if
        the current state does not allow it."""
        target = TRANSITIONS[event].get(self.status)
        if target is None:
            raise InvalidTransition(f"task {self.id}: {event} is not allowed when {self.status}")
        self.status = target

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
        self._move("claim")
        self.attempts += 1
        self.claim_token = new_claim_token(claimant)
        self.progress = 0.0
        self.lease_expires_at = now + lease
        self.updated_at = now
        return ClaimOutcome.RUN

    def renew(self, now: datetime, lease: timedelta, progress: float) -> None:
        """The attempt that holds it goes on: a new lease, and how far it got."""
        self._move("renew")
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
        self._move("release")
        self._given_back(now)

    def _given_back(self, now: datetime) -> None:
        self.claim_token = None
        self.lease_expires_at = None
        self.updated_at = now

    def interrupted(self, now: datetime) -> None:
        """Give back a task whose process died (the embedded start-up): due again at once,
        and that attempt is not counted against the task, since the file was not at fault."""
        self._move("interrupted")
        self._given_back(now)
        self.attempts = max(0, self.attempts - 1)

    def succeed(
        self,
        output_key: str,
        probe: Probe,
        size: int,
        now: datetime,
        *,
        input_loudness: Loudness | None = None,
        report_due: bool = False,
        fidelity: Fidelity | None = None,
    ) -> str | None:
        """Converted: the output and what was measured on the way (the input's
        loudness joins its stored probe, since the input stays the same file);
        ``report_due``: its report pass is still to run; ``fidelity``: what the
        conversion kept and warns of. Returns the key of the output it replaces
        (kept until now), to delete once this is committed."""
        self._move("succeed")
        kept = fidelity or Fidelity()
        self.warnings = list(kept.warnings) or None
        self.verified = kept.verified
        self.exact_length = kept.inexact is None
        self.exact_length_reason = kept.inexact
        replaced = self.kept_output_key
        self.kept_output_key = self.kept_output_format = None
        self.kept_output_bytes = self.reserved_bytes = 0
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

    def _input_loudness(self, loudness: Loudness | None) -> None:
        if loudness is not None and self.input_probe is not None:
            self.input_probe = replace(self.input_probe, loudness=loudness)

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
        input_loudness: Loudness | None = None,
        output_loudness: Loudness | None = None,
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
        self._move("reported")
        self.report_due = False
        self.waveform_key = waveform_key
        self._input_loudness(input_loudness)
        if loudness_reasons[0] is not None and self.input_probe is not None:
            self.input_probe = replace(self.input_probe, loudness_reason=loudness_reasons[0])
        if warning is not None:
            self.warnings = [*(self.warnings or []), warning]
        probe = self.output_probe
        if probe is not None:
            if output_loudness is not None:
                probe = replace(probe, loudness=output_loudness)
            if loudness_reasons[1] is not None:
                probe = replace(probe, loudness_reason=loudness_reasons[1])
            if output_seconds:
                bitrate = average_bitrate(self.output_bytes, output_seconds)
                probe = replace(probe, duration=round(output_seconds, 3), bitrate=bitrate)
            self.output_probe = probe

    def fail(self, reason: str, now: datetime) -> None:
        """Failed: ``reason`` says why; a kept output stays (still downloadable)."""
        self._move("fail")
        self.reserved_bytes = 0
        self.claim_token = None
        self.report_due = False
        self.album_gain_due = False
        self._forget_fidelity()
        self.error = reason
        self.lease_expires_at = None
        self.updated_at = now

    def retarget(
        self,
        output_format: str,
        now: datetime,
        options: ConversionOptions | None = None,
        reserve: int = 0,
    ) -> None:
        """Convert again to ``output_format``, holding ``reserve`` bytes of quota for the
        new output. The current output (if any) is kept, downloadable, until the new one
        replaces it (``succeed``); an output kept from before stays kept. Read
        ``waveform_key`` before: the waveform is not kept (it goes with its revision)."""
        self._move("retarget")
        if self.output_key:
            self.kept_output_key = self.output_key
            self.kept_output_format = self.output_format
            self.kept_output_bytes = self.output_bytes
        self.reserved_bytes = reserve
        self.output_format = output_format
        self.options = options or ConversionOptions()
        self.revision += 1
        self.output_key = None
        self.output_bytes = 0
        self.output_probe = None
        self.waveform_key = None
        self.report_due = False
        self.album_gain_due = False
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

    def notified(self, now: datetime, webhook_due: datetime | None = None) -> None:
        """Its owner was told of this finished revision ``now`` (mail, webhook); a first
        webhook attempt, if one was queued, is due at ``webhook_due`` (the sweep
        republishes it if its message is lost)."""
        self._move("notified")
        self.notified_revision = self.revision
        self.notified_at = now
        if webhook_due is not None:
            self.webhook_due_at = webhook_due

    def told_of_older(self, now: datetime) -> None:
        """Its owner was told ``now`` of an older revision (this one began while that
        mail went out): the window starts then, so this revision is told after it."""
        self._move("told_of_older")
        self.notified_at = now

    def gain_tagged(
        self, gain: Gain | None, album_due: bool, retagged: tuple[str, int] | None = None
    ) -> None:
        """Its output's gain tags were written: ``gain`` (None: none new, as for silence),
        into a new copy of the output stored at ``retagged`` (key, size) if given;
        ``album_due``: its album's gain is still to be written. A task converted again
        meanwhile keeps its output until the new one exists, so any state may take it."""
        self._move("gain_tagged")
        if retagged is not None:
            self.output_key, self.output_bytes = retagged
        if gain is not None and self.output_probe is not None:
            self.output_probe = replace(self.output_probe, gain=gain)
        self.album_gain_due = album_due

    def expires(self, at: datetime) -> None:
        """The sweep deletes it and its files at ``at`` (AUDIOCONV_RETENTION_HOURS)."""
        self._move("expires")
        self.expires_at = at

    def use_webhook(self, url: str | None) -> None:
        """Announce this task's finished revisions to ``url`` (None: its owner's, if any)."""
        self._move("use_webhook")
        self.webhook_url = url

    def no_webhook_due(self) -> None:
        """No webhook attempt is due for this revision (its URL was removed, or it settled)."""
        self._move("no_webhook_due")
        self.webhook_due_at = None

    def record_webhook_attempt(self, entry: WebhookAttempt) -> None:
        """A delivery attempt at this revision's event was made: keep it (the oldest
        beyond ``MAX_RECORDED_ATTEMPTS`` go) and when the next is due (None: none is)."""
        self._move("record_webhook_attempt")
        kept = self.webhook_deliveries[-(MAX_RECORDED_ATTEMPTS - 1) :]
        self.webhook_deliveries = (*kept, entry)
        self.webhook_due_at = entry.next_attempt_at

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


# Webhook delivery attempts kept on a task (the oldest go first).
MAX_RECORDED_ATTEMPTS = 50


@dataclass(frozen=True)
class WebhookAttempt:
    """One attempt at delivering a finished revision's webhook event (domain/webhook.py),
    as the task keeps it."""

    event_id: str
    attempt: int
    at: datetime
    url: str
    status_code: int | None
    error: str | None
    result: str  # delivered | retrying | failed
    next_attempt_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        """As stored and shown (the task's ``webhookDeliveries``)."""
        return {
            "eventId": self.event_id,
            "attempt": self.attempt,
            "at": self.at.isoformat(),
            "url": self.url,
            "statusCode": self.status_code,
            "error": self.error,
            "result": self.result,
            "nextAttemptAt": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> WebhookAttempt:
        following = value.get("nextAttemptAt")
        return cls(
            event_id=value["eventId"],
            attempt=int(value["attempt"]),
            at=datetime.fromisoformat(value["at"]),
            url=value["url"],
            status_code=value.get("statusCode"),
            error=value.get("error"),
            result=value["result"],
            next_attempt_at=datetime.fromisoformat(following) if following else None,
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
