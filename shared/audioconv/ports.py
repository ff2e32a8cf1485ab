"""The ports the services talk through (each has a local and a cloud adapter), and
the ``Message`` a bus hands its handlers. The media values the transcoder returns
(``Probe``, ``Picture``, ``Loudness``) live in ``domain/media.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol, Self

from audioconv.domain.account import ApiToken
from audioconv.domain.api_key import ApiKey
from audioconv.domain.batch import Batch
from audioconv.domain.gain import Gain, Measured
from audioconv.domain.job import ConversionJob, ConversionResult, MediaReport
from audioconv.domain.media import Loudness as Loudness
from audioconv.domain.media import Picture as Picture
from audioconv.domain.media import Probe as Probe
from audioconv.domain.model import Task, TaskStatus, User
from audioconv.domain.preset import Preset
from audioconv.domain.throttle import Throttle
from audioconv.domain.webhook_events import Outcome


class BlobStore(Protocol):
    """Files by key. Every method streams: no whole file is held in memory."""

    def put_file(
        self, key: str, path: Path, content_type: str, *, if_absent: bool = False,
        move: bool = False,
    ) -> None:  # fmt: skip
        """Store the local file at ``path`` under ``key``, replacing any; with
        ``if_absent``, only if there is none (else FileExistsError), atomically.
        ``move``: the store may take the file itself (a rename), leaving no ``path``."""

    def download_to(self, key: str, path: Path) -> None:
        """Write the blob to the local file ``path``; KeyError if it does not exist."""

    def open_read(self, key: str) -> IO[bytes]:
        """A readable binary stream of the blob; KeyError if it does not exist."""

    def local_path(self, key: str) -> Path | None:
        """The blob's own file, when the store keeps it on this machine's disk (to read,
        never to write: no copy needed); None when it does not (then ``download_to``)."""

    def size(self, key: str) -> int | None:
        """Size in bytes, or None if there is no such blob."""

    def delete(self, key: str) -> None:
        """Remove the blob; a missing blob is not an error."""

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix`` (on disk, unfinished writes' temporary files too)."""

    def signed_put_url(
        self, key: str, content_type: str, ttl_seconds: int, max_bytes: int | None = None
    ) -> str:
        """A URL a client may PUT the blob to directly, sending ``content_type`` (and,
        with ``max_bytes``, ``x-goog-content-length-range: 0,<max_bytes>``)."""

    def signed_get_url(
        self, key: str, filename: str, content_type: str, ttl_seconds: int
    ) -> str | None:
        """A short-lived URL that serves the blob as an attachment named ``filename``,
        or None when the store has none and the API streams the file itself."""

    def check(self) -> None:
        """Raise unless the store can be reached and used (one cheap call; readiness)."""

    def resumable_upload_url(self, key: str, content_type: str, size: int) -> str | None:
        """A resumable upload session for exactly ``size`` bytes of ``key`` (created once:
        it will not replace an existing blob) that a client PUTs to in pieces, asking how
        far it got (Cloud Storage's own protocol); None where the store has none (the
        embedded mode's resumable uploads are tus, through the API)."""

    def key_for_upload(self, token: str) -> str | None:
        """The key the token of one of this store's ``signed_put_url`` grants, when
        those URLs point at the API itself (a PUT the API receives); None when they
        point elsewhere (Cloud Storage). ValueError if the token is forged or expired."""


@dataclass(frozen=True)
class Message:
    """One message taken off a topic, decoded: what every transport (a Pub/Sub push,
    the in-process bus, the database queue) hands a handler."""

    id: str
    data: dict[str, Any]
    attributes: dict[str, str]


# Handles one message: returning acknowledges it, raising asks for redelivery.
MessageHandler = Callable[[Message], None]


class EventBus(Protocol):
    """Publishes small JSON messages; returns once the publish is confirmed."""

    def publish(self, topic: str, data: dict[str, Any], attributes: dict[str, str]) -> str:
        """Publish and return the message id."""

    def close(self) -> None:
        """Release what the bus holds (its threads, its client); once, at shutdown."""


class WebhookSender(Protocol):
    """POSTs signed events to users' URLs, refusing addresses inside our network."""

    def check(self, url: str) -> None:
        """UnsafeWebhookUrl (a ValueError, in words) unless ``url`` may be called:
        right scheme, and every address its host resolves to is a public one."""

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        """One POST, no redirects followed, to an address checked as ``check`` does
        (connected to that very address); the outcome, never an exception."""


class FetchFailed(Exception):
    """A URL import could not fetch its file; the message says why, in words (never the
    URL's query string)."""


@dataclass(frozen=True)
class Fetched:
    """What a URL import fetched: its size, and the name and type the server gave it."""

    size: int
    name: str | None = None
    content_type: str | None = None


class UrlFetcher(Protocol):
    """Fetches users' files from http(s) URLs, refusing addresses inside our network."""

    def check(self, url: str) -> None:
        """FetchFailed unless ``url`` is http(s) and its host's every address may be
        fetched from (as ``fetch`` checks each hop)."""

    def fetch(
        self,
        url: str,
        dest: Path,
        max_bytes: int,
        on_progress: Callable[[int, int | None], None] = ...,
    ) -> Fetched:
        """Stream the file at ``url`` to ``dest`` (redirects followed, each hop
        checked), at most ``max_bytes``, reporting (bytes so far, announced size);
        FetchFailed with the reason."""


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None:
        """Deliver one plain-text mail."""


class UserRepository(Protocol):
    def add(self, user: User) -> None: ...

    def get(self, user_id: int, *, for_update: bool = False) -> User | None: ...

    def by_username(self, username: str) -> User | None: ...

    def by_email(self, email: str) -> User | None: ...

    def delete(self, user: User) -> None:
        """Remove the account (its tasks, batches and tokens go with it)."""


class TokenRepository(Protocol):
    """The records of API tokens still standing (domain/account.py)."""

    def add(self, token: ApiToken) -> None: ...

    def owner(self, token_id: str) -> int | None:
        """The user whose token this is, while it stands; None once revoked."""

    def revoke(self, token_id: str) -> int:
        """Revoke one token; how many records went (0 or 1)."""

    def revoke_all(self, user_id: int, keep: str | None = None) -> int:
        """Revoke every token of the user but ``keep``; how many went."""

    def prune(self, user_id: int, now: datetime, keep: int) -> None:
        """Forget the user's expired tokens and all but the newest ``keep``."""

    def expire(self, now: datetime) -> int:
        """Forget every token expired by ``now``; how many went."""


class ApiKeyRepository(Protocol):
    """API keys (domain/api_key.py): a key stands while its row exists."""

    def add(self, key: ApiKey) -> None:
        """Conflict if the hash is taken (never, for random keys)."""

    def by_hash(self, secret_hash: str) -> ApiKey | None: ...

    def get(self, key_id: int) -> ApiKey | None: ...

    def for_user(self, user_id: int) -> Sequence[ApiKey]:
        """The user's keys, oldest first."""

    def delete(self, key: ApiKey) -> None: ...

    def touch(self, key_id: int, now: datetime, older_than: datetime) -> None:
        """Set the key's last use to ``now`` unless it was already set after
        ``older_than`` (concurrent requests write it once)."""


class PresetRepository(Protocol):
    """Presets (domain/preset.py)."""

    def add(self, preset: Preset) -> None:
        """Conflict if the user has a preset of that name."""

    def get(self, preset_id: int, *, for_update: bool = False) -> Preset | None: ...

    def by_name(self, user_id: int, name: str) -> Preset | None: ...

    def for_user(self, user_id: int) -> Sequence[Preset]:
        """The user's presets, by name."""

    def delete(self, preset: Preset) -> None: ...


class QueuedMessageRepository(Protocol):
    """Messages waiting in the database queue (the embedded mode's event bus)."""

    def discard(self, task_ids: Sequence[int], user_id: int) -> int:
        """Remove the queued messages about these tasks or this user; how many went.
        (On Pub/Sub nothing waits here: such messages are dropped as stale on arrival.)"""


class TaskRepository(Protocol):
    def add(self, task: Task) -> None: ...

    def get(self, task_id: int, *, for_update: bool = False) -> Task | None: ...

    def for_user(self, user_id: int, limit: int | None, descending: bool) -> Sequence[Task]: ...

    def by_file_name(self, user_id: int, file_name: str) -> Task | None:
        """The caller's newest task whose original or converted name is ``file_name``."""

    def by_input_prefix(self, prefix: str) -> Task | None:
        """The task whose input key starts with ``prefix`` (direct uploads)."""

    def delete(self, task: Task) -> None: ...

    def stored_keys(self) -> set[str]:
        """Every input and output key a task refers to."""

    def usage(self, user_id: int) -> tuple[int, int]:
        """The user's tasks in flight (uploaded or processing) and stored bytes."""

    def unfinished(self) -> Sequence[Task]:
        """Tasks in uploaded or processing state."""

    def claimed_by(self, claimant: str) -> Sequence[Task]:
        """Processing tasks under a claim of ``claimant`` (a worker process), locked
        for update (``Task.claimed_by``)."""

    def unnotified(self) -> Sequence[Task]:
        """Finished tasks whose owner has not been told about this revision."""

    def reports_due(self) -> Sequence[Task]:
        """Processed tasks whose report pass is still due."""

    def album_gains_due(self) -> Sequence[Task]:
        """Processed tracks still waiting for their album's gain tags."""

    def conversions_by_owner(self) -> tuple[dict[int, int], set[int]]:
        """Conversions running per owner (processing), and the owners with one waiting
        (uploaded): fair share between users (domain/fair_share.py)."""

    def webhooks_due(self, before: datetime) -> Sequence[Task]:
        """Finished tasks with a webhook attempt due before ``before``."""

    def expired(self, now: datetime, limit: int) -> Sequence[Task]:
        """Up to ``limit`` tasks whose ``expires_at`` has passed by ``now``, by id."""

    def without_expiry(self, limit: int) -> Sequence[Task]:
        """Up to ``limit`` tasks with no ``expires_at``, by id, locked for update."""

    def clear_expiry(self) -> int:
        """Take every task's ``expires_at`` away (the retention was turned off); how many."""


class ThrottleRepository(Protocol):
    def get(self, key: str) -> Throttle | None:
        """The key's throttle, locked for this unit of work."""

    def many(self, keys: Sequence[str]) -> Sequence[Throttle]: ...

    def add(self, throttle: Throttle) -> None:
        """Conflict if another unit of work added the same key meanwhile."""

    def clear(self, keys: Sequence[str]) -> None: ...

    def expire(self, quiet_since: datetime, now: datetime) -> int:
        """Delete the keys whose window started before ``quiet_since`` and that are not
        blocked at ``now``; how many."""


class UploadRepository(Protocol):
    """Direct-upload ids that have been used: each signed URL works once, for good."""

    def use(self, upload_id: str, user_id: int, now: datetime) -> None:
        """Record the id as used; Conflict if it already was."""

    def used(self, upload_id: str) -> bool: ...

    def forget(self, upload_id: str) -> None:
        """Undo ``use`` (the upload failed before anything was stored)."""

    def set_webhook(
        self, upload_id: str, url: str, now: datetime, user_id: int | None = None
    ) -> None:
        """Keep the webhook URL the upload's task will get when its file arrives."""

    def webhook(self, upload_id: str) -> str | None:
        """The webhook URL ``set_webhook`` kept for the upload, if any."""

    def forget_user(self, user_id: int) -> int:
        """Forget the user's used upload ids and kept webhook URLs (a deleted account);
        how many webhook URLs went."""


class BatchRepository(Protocol):
    """Batches of tasks (domain/batch.py)."""

    def add(self, batch: Batch) -> None: ...

    def get(self, batch_id: int, *, for_update: bool = False) -> Batch | None: ...

    def delete(self, batch: Batch) -> None: ...

    def for_user(self, user_id: int) -> Sequence[Batch]:
        """The user's batches, oldest first."""

    def tasks(self, batch_id: int) -> Sequence[Task]:
        """The batch's tasks, by id."""

    def status_counts(self, batch_ids: Sequence[int]) -> Mapping[int, Mapping[TaskStatus, int]]:
        """For each of these batches that has tasks, how many are in each status."""


class UnitOfWork(Protocol):
    """One transaction; ``with uow:`` rolls back whatever was not committed. Its
    repositories are read-only members, so an implementation may hold its own kinds."""

    @property
    def users(self) -> UserRepository: ...

    @property
    def tasks(self) -> TaskRepository: ...

    @property
    def throttles(self) -> ThrottleRepository: ...

    @property
    def uploads(self) -> UploadRepository: ...

    @property
    def batches(self) -> BatchRepository: ...

    @property
    def tokens(self) -> TokenRepository: ...

    @property
    def queue(self) -> QueuedMessageRepository: ...

    @property
    def api_keys(self) -> ApiKeyRepository: ...

    @property
    def presets(self) -> PresetRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None:
        """Make the changes durable; Conflict if a uniqueness rule was broken meanwhile."""

    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, readonly: bool = False) -> UnitOfWork:
        """A new unit of work; ``readonly`` ones (which must not commit) may run beside
        writers (on SQLite they read a snapshot instead of taking the write lock)."""


ProgressCallback = Callable[[float], None]


class Transcoder(Protocol):
    def probe(self, path: Path, limits: bool = True) -> Probe:
        """Inspect a file; UnsupportedMedia if it is not audio we can read.

        ``limits`` applies the input limits (size, duration, streams); off for our outputs.
        """

    def convert(
        self, src: Path, job: ConversionJob, dst: Path, on_progress: ProgressCallback
    ) -> ConversionResult:
        """Convert ``src`` as ``job`` says, to ``dst``; ConversionFailed on bad input.

        Tags and cover art are carried over where the target can hold them; the
        stream is copied, not re-encoded, when it already is what was asked for.
        The result describes the output (its true duration, measured loudness).
        """

    def report(
        self,
        src: Path,
        source: Probe,
        dst: Path,
        output_seconds: float,
        png: Path,
        output_is_input: bool = False,
    ) -> MediaReport:
        """Measure the loudness of ``src`` (described by ``source``) and of its
        conversion ``dst`` (about ``output_seconds`` long), count the output's exact
        length, and draw both waveforms to ``png``; ConversionFailed if that fails.
        ``output_is_input``: ``dst`` decodes to ``src``'s very samples, so decoding
        ``src`` once tells both."""

    def measure_gain(self, path: Path, seconds: float) -> Measured:
        """The loudness of every 400 ms block of ``path``'s decoded audio (about
        ``seconds`` long) and its true peak: what gain tags are computed from."""

    def write_gain(self, path: Path, target: str, gain: Gain | None) -> None:
        """Write ``gain`` as the tags of ``target`` files into ``path``, audio untouched
        (None: remove any gain tags it carries)."""

    def split(
        self,
        src: Path,
        source: Probe,
        starts: Sequence[int],
        tags: Sequence[Mapping[str, str]],
        folder: Path,
    ) -> list[Path]:
        """Cut ``src`` (described by ``source``) into tracks starting at the ``starts``
        (sample numbers; the last runs to the end), each a FLAC file in ``folder`` with
        its ``tags`` and the cover art; ConversionFailed if ffmpeg cannot."""

    def check(self) -> None:
        """Raise unless the configured ffmpeg and ffprobe run (readiness)."""
