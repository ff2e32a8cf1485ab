"""In-memory fakes of the ports, for unit tests of the services."""

from __future__ import annotations

import io
import itertools
import shutil
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self, cast

from flask import Flask

from audioconv.config import Settings
from audioconv.domain.account import ApiToken
from audioconv.domain.api_key import ApiKey
from audioconv.domain.batch import Batch
from audioconv.domain.errors import Conflict, ConversionFailed, UnsupportedMedia
from audioconv.domain.gain import Gain, Measured
from audioconv.domain.job import ConversionJob, ConversionResult, MediaReport
from audioconv.domain.media import Loudness
from audioconv.domain.model import MAX_ID, Task, TaskStatus, User, as_utc
from audioconv.domain.preset import Preset
from audioconv.domain.throttle import Throttle
from audioconv.domain.webhook_events import Outcome
from audioconv.ports import Picture, Probe, ProgressCallback
from audioconv.services.dependencies import Dependencies


class IdOutOfRange(Exception):
    """What PostgreSQL says of a lookup by an id outside its 32-bit integer column."""


def _checked_id(row_id: int) -> int:
    if not -(2**31) <= row_id <= MAX_ID:
        raise IdOutOfRange(f"integer out of range: {row_id}")
    return row_id


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[int, User] = {}
        self.ids = itertools.count(1)

    def add(self, user: User) -> None:
        user.id = next(self.ids)
        self.rows[user.id] = user

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        return self.rows.get(_checked_id(user_id))

    def by_username(self, username: str) -> User | None:
        return next((u for u in self.rows.values() if u.username == username), None)

    def by_email(self, email: str) -> User | None:
        return next((u for u in self.rows.values() if u.email == email), None)

    def delete(self, user: User) -> None:
        assert user.id is not None
        del self.rows[user.id]


class FakeTokens:
    def __init__(self) -> None:
        self.rows: dict[str, ApiToken] = {}

    def add(self, token: ApiToken) -> None:
        if token.id in self.rows:
            raise Conflict("that already exists")
        self.rows[token.id] = token

    def owner(self, token_id: str) -> int | None:
        token = self.rows.get(token_id)
        return token.user_id if token else None

    def revoke(self, token_id: str) -> int:
        return int(self.rows.pop(token_id, None) is not None)

    def revoke_all(self, user_id: int, keep: str | None = None) -> int:
        gone = [k for k, t in self.rows.items() if t.user_id == user_id and k != keep]
        for key in gone:
            del self.rows[key]
        return len(gone)

    def prune(self, user_id: int, now: datetime, keep: int) -> None:
        mine = sorted((t for t in self.rows.values() if t.user_id == user_id),
                      key=lambda t: t.issued_at, reverse=True)  # fmt: skip
        live = [t for t in mine if t.expires_at > now][:keep]
        for token in mine:
            if token not in live:
                del self.rows[token.id]

    def expire(self, now: datetime) -> int:
        gone = [k for k, t in self.rows.items() if t.expires_at <= now]
        for key in gone:
            del self.rows[key]
        return len(gone)


class FakeQueue:
    """The database queue's messages: (data, attributes) as published while it holds them."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def discard(self, task_ids: Sequence[int], user_id: int) -> int:
        kept = [d for d in self.rows if d.get("taskId") not in task_ids
                and d.get("userId") != user_id]  # fmt: skip
        gone = len(self.rows) - len(kept)
        self.rows = kept
        return gone


class FakeTasks:
    def __init__(self) -> None:
        self.rows: dict[int, Task] = {}
        self.ids = itertools.count(1)

    def add(self, task: Task) -> None:
        task.id = next(self.ids)
        self.rows[task.id] = task

    def get(self, task_id: int, *, for_update: bool = False) -> Task | None:
        return self.rows.get(_checked_id(task_id))

    def for_user(self, user_id: int, limit: int | None, descending: bool) -> Sequence[Task]:
        found = sorted((t for t in self.rows.values() if t.user_id == user_id),
                       key=lambda t: t.id or 0, reverse=descending)  # fmt: skip
        return found[:limit] if limit else found

    def by_file_name(self, user_id: int, file_name: str) -> Task | None:
        return next((t for t in reversed(list(self.rows.values()))
                     if t.user_id == user_id and file_name in (t.file_name, t.output_name)),
                    None)  # fmt: skip

    def by_input_prefix(self, prefix: str) -> Task | None:
        return next((t for t in self.rows.values() if t.input_key.startswith(prefix)), None)

    def delete(self, task: Task) -> None:
        assert task.id is not None
        del self.rows[task.id]

    def stored_keys(self) -> set[str]:
        files = (
            (t.input_key, t.output_key, t.waveform_key, t.kept_output_key)
            for t in self.rows.values()
        )
        return {k for keys in files for k in keys if k}

    def usage(self, user_id: int) -> tuple[int, int]:
        mine = [t for t in self.rows.values() if t.user_id == user_id]
        return (sum(not t.finished for t in mine),
                sum(t.stored_bytes for t in mine))  # fmt: skip

    def unfinished(self) -> Sequence[Task]:
        return [t for t in self.rows.values() if not t.finished]

    def claimed_by(self, claimant: str) -> Sequence[Task]:
        return [t for t in self.rows.values() if t.claimed_by(claimant)]

    def webhooks_due(self, before: datetime) -> Sequence[Task]:
        return [
            t for t in self.rows.values()
            if t.finished and t.webhook_due_at is not None and t.webhook_due_at <= before
        ]  # fmt: skip

    def unnotified(self) -> Sequence[Task]:
        return [t for t in self.rows.values() if t.finished and t.notified_revision < t.revision]

    def album_gains_due(self) -> Sequence[Task]:
        due = [t for t in self.rows.values() if t.album_gain_due]
        return [t for t in due if t.status is TaskStatus.PROCESSED]

    def reports_due(self) -> Sequence[Task]:
        return [t for t in self.rows.values() if t.report_due and t.status is TaskStatus.PROCESSED]

    def expired(self, now: datetime, limit: int) -> Sequence[Task]:
        found = [t for t in self.rows.values() if t.expires_at and t.expires_at <= now]
        return sorted(found, key=lambda t: t.id or 0)[:limit]

    def without_expiry(self, limit: int) -> Sequence[Task]:
        return sorted((t for t in self.rows.values() if t.expires_at is None),
                      key=lambda t: t.id or 0)[:limit]  # fmt: skip

    def clear_expiry(self) -> int:
        found = [t for t in self.rows.values() if t.expires_at is not None]
        for task in found:
            task.expires_at = None
        return len(found)

    def conversions_by_owner(self) -> tuple[dict[int, int], set[int]]:
        running: dict[int, int] = {}
        for t in self.rows.values():
            if t.status is TaskStatus.PROCESSING:
                running[t.user_id] = running.get(t.user_id, 0) + 1
        waiting = {t.user_id for t in self.rows.values() if t.status is TaskStatus.UPLOADED}
        return running, waiting


class FakeThrottles:
    def __init__(self) -> None:
        self.rows: dict[str, Throttle] = {}

    def get(self, key: str) -> Throttle | None:
        return self.rows.get(key)

    def many(self, keys: Sequence[str]) -> Sequence[Throttle]:
        return [self.rows[k] for k in keys if k in self.rows]

    def add(self, throttle: Throttle) -> None:
        if throttle.key in self.rows:
            raise Conflict("that already exists")
        self.rows[throttle.key] = throttle

    def clear(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.rows.pop(key, None)

    def expire(self, quiet_since: datetime, now: datetime) -> int:
        stale = [
            k for k, t in self.rows.items()
            if as_utc(t.window_started_at) < quiet_since and t.wait_seconds(now) == 0
        ]  # fmt: skip
        for key in stale:
            del self.rows[key]
        return len(stale)


class FakeUploads:
    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.webhooks: dict[str, str] = {}
        self.owners: dict[str, int | None] = {}

    def use(self, upload_id: str, user_id: int, now: datetime) -> None:
        if upload_id in self.ids:
            raise Conflict("that already exists")
        self.ids.add(upload_id)

    def used(self, upload_id: str) -> bool:
        return upload_id in self.ids

    def forget(self, upload_id: str) -> None:
        self.ids.discard(upload_id)

    def set_webhook(
        self, upload_id: str, url: str, now: datetime, user_id: int | None = None
    ) -> None:
        self.webhooks[upload_id] = url
        self.owners[upload_id] = user_id

    def webhook(self, upload_id: str) -> str | None:
        return self.webhooks.get(upload_id)

    def forget_user(self, user_id: int) -> int:
        gone = [u for u, owner in self.owners.items() if owner == user_id]
        for upload_id in gone:
            self.webhooks.pop(upload_id, None)
            del self.owners[upload_id]
        return len(gone)


class FakeBatches:
    def __init__(self, tasks: FakeTasks) -> None:
        self.rows: dict[int, Batch] = {}
        self.ids = itertools.count(1)
        self.all_tasks = tasks

    def add(self, batch: Batch) -> None:
        batch.id = next(self.ids)
        self.rows[batch.id] = batch

    def get(self, batch_id: int, *, for_update: bool = False) -> Batch | None:
        return self.rows.get(_checked_id(batch_id))

    def delete(self, batch: Batch) -> None:
        assert batch.id is not None
        del self.rows[batch.id]

    def for_user(self, user_id: int) -> Sequence[Batch]:
        return [b for b in self.rows.values() if b.user_id == user_id]

    def tasks(self, batch_id: int) -> Sequence[Task]:
        return [t for t in self.all_tasks.rows.values() if t.batch_id == batch_id]

    def status_counts(self, batch_ids: Sequence[int]) -> Mapping[int, Mapping[TaskStatus, int]]:
        counts: dict[int, Counter[TaskStatus]] = {}
        for task in self.all_tasks.rows.values():
            if task.batch_id is not None and task.batch_id in batch_ids:
                counts.setdefault(task.batch_id, Counter())[task.status] += 1
        return counts


class FakeApiKeys:
    def __init__(self) -> None:
        self.rows: dict[int, ApiKey] = {}
        self.ids = itertools.count(1)

    def add(self, key: ApiKey) -> None:
        if any(k.secret_hash == key.secret_hash for k in self.rows.values()):
            raise Conflict("that already exists")
        key.id = next(self.ids)
        self.rows[key.id] = key

    def by_hash(self, secret_hash: str) -> ApiKey | None:
        return next((k for k in self.rows.values() if k.secret_hash == secret_hash), None)

    def get(self, key_id: int) -> ApiKey | None:
        return self.rows.get(_checked_id(key_id))

    def for_user(self, user_id: int) -> Sequence[ApiKey]:
        return [k for k in self.rows.values() if k.user_id == user_id]

    def delete(self, key: ApiKey) -> None:
        assert key.id is not None
        del self.rows[key.id]

    def touch(self, key_id: int, now: datetime, older_than: datetime) -> None:
        key = self.rows.get(key_id)
        if key is not None and (key.last_used_at is None or key.last_used_at < older_than):
            key.last_used_at = now


class FakePresets:
    def __init__(self) -> None:
        self.rows: dict[int, Preset] = {}
        self.ids = itertools.count(1)

    def add(self, preset: Preset) -> None:
        if self.by_name(preset.user_id, preset.name) is not None:
            raise Conflict("that already exists")
        preset.id = next(self.ids)
        self.rows[preset.id] = preset

    def get(self, preset_id: int, *, for_update: bool = False) -> Preset | None:
        return self.rows.get(_checked_id(preset_id))

    def by_name(self, user_id: int, name: str) -> Preset | None:
        return next((p for p in self.rows.values() if (p.user_id, p.name) == (user_id, name)),
                    None)  # fmt: skip

    def for_user(self, user_id: int) -> Sequence[Preset]:
        return sorted((p for p in self.rows.values() if p.user_id == user_id),
                      key=lambda p: (p.name, p.id or 0))  # fmt: skip

    def delete(self, preset: Preset) -> None:
        assert preset.id is not None
        del self.rows[preset.id]


class DatabaseBusy(Exception):
    """What a write transaction meets while another process holds the write lock."""


class FakeUnitOfWork:
    """Shares its repositories across units of work; counts commits. Like the database
    adapter, a read-only one cannot commit and takes no write lock: while ``busy`` (another
    process is writing), reads go on and a transaction that could write fails."""

    def __init__(self) -> None:
        self.users = FakeUsers()
        self.tasks = FakeTasks()
        self.throttles = FakeThrottles()
        self.uploads = FakeUploads()
        self.batches = FakeBatches(self.tasks)
        self.tokens = FakeTokens()
        self.queue = FakeQueue()
        self.api_keys = FakeApiKeys()
        self.presets = FakePresets()
        self.commits = 0
        self.busy = False
        self.readonly = False

    def begin(self, *, readonly: bool = False) -> Self:
        if self.busy and not readonly:
            raise DatabaseBusy("database is locked (fake)")
        self.readonly = readonly
        return self

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def commit(self) -> None:
        assert not self.readonly, "a read-only unit of work cannot commit"
        self.commits += 1

    def rollback(self) -> None:
        pass


class FakeBlobs:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self.fail_puts = False

    def put_file(
        self, key: str, path: Path, content_type: str, *, if_absent: bool = False,
        move: bool = False,
    ) -> None:  # fmt: skip
        if self.fail_puts:
            raise OSError("storage is down")
        if if_absent and key in self.files:
            raise FileExistsError(key)
        self.files[key] = path.read_bytes()
        self.content_types[key] = content_type

    def download_to(self, key: str, path: Path) -> None:
        with self.open_read(key) as src, path.open("wb") as out:
            shutil.copyfileobj(src, out)

    def open_read(self, key: str) -> IO[bytes]:
        if key not in self.files:
            raise KeyError(key)
        return io.BytesIO(self.files[key])

    def size(self, key: str) -> int | None:
        return len(self.files[key]) if key in self.files else None

    def local_path(self, key: str) -> Path | None:
        return None  # as Cloud Storage: the report pass downloads

    def delete(self, key: str) -> None:
        self.files.pop(key, None)

    def keys(self, prefix: str) -> Iterator[str]:
        return iter(sorted(k for k in self.files if k.startswith(prefix)))

    def signed_put_url(
        self, key: str, content_type: str, ttl_seconds: int, max_bytes: int | None = None
    ) -> str:
        return f"https://storage.test/{key}?ttl={ttl_seconds}&max={max_bytes}"

    def signed_get_url(
        self, key: str, filename: str, content_type: str, ttl_seconds: int
    ) -> str | None:
        return None

    def check(self) -> None:
        if self.fail_puts:
            raise OSError("storage is down")

    def resumable_upload_url(self, key: str, content_type: str, size: int) -> str | None:
        return None

    def key_for_upload(self, token: str) -> str | None:
        return None


class FakeBus:
    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.down = False

    def publish(self, topic: str, data: dict[str, Any], attributes: dict[str, str]) -> str:
        if self.down:
            raise ConnectionError("bus is down")
        self.published.append((topic, data, attributes))
        return str(len(self.published))

    def topics(self) -> list[str]:
        return [topic for topic, _, _ in self.published]

    def close(self) -> None:
        self.down = True


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, to: str, subject: str, body: str) -> None:
        self.sent.append((to, subject, body))


class FakeTranscoder:
    """Audio is any file starting with b'AUDIO'; 'converting' prefixes the target name."""

    def __init__(self) -> None:
        self.fail_with: str | None = None
        # Runs inside convert(), to play what another worker does meanwhile.
        self.during_convert: Callable[[], None] | None = None
        self.progress_during_convert = True
        self.jobs: list[ConversionJob] = []
        # The report pass: the (input, output) contents of each run; how it fails; what
        # another worker does meanwhile.
        self.reports: list[tuple[bytes, bytes]] = []
        # Per report: whether it was told the output decodes to the input's samples.
        self.decoded_once: list[bool] = []
        self.fail_report_with: str | None = None
        self.during_report: Callable[[], None] | None = None
        self.probed: list[str] = []  # names of the files probed, in order
        self.picture: Picture | None = None  # the cover art probes find
        self.channels = 2  # the channel count probes find
        self.gain_measured: list[bytes] = []  # the audio of each gain measurement

    def probe(self, path: Path, limits: bool = True) -> Probe:
        self.probed.append(path.name)
        data = path.read_bytes()
        if not data.startswith(b"AUDIO"):
            raise UnsupportedMedia("not an audio file we can read (fake)")
        return Probe("mp3", "mp3", "mp3", 1.0, 128000, 44100, self.channels, {},
                     picture=self.picture)  # fmt: skip

    def convert(
        self, src: Path, job: ConversionJob, dst: Path, on_progress: ProgressCallback
    ) -> ConversionResult:
        """Writes the output; with the ``loudness`` option, measures a fixed input loudness."""
        self.jobs.append(job)
        if self.during_convert:
            self.during_convert()
        if self.fail_with:
            raise ConversionFailed(self.fail_with)
        if self.progress_during_convert:
            on_progress(50.0)
        target = job.format.name
        dst.write_bytes(b"AUDIO " + target.encode() + b" " + src.read_bytes())
        output = Probe(target, target, job.format.probe_codec, 1.0, 128000, 44100, 2, {})
        measured = Loudness(-20.0, 5.0, -3.0) if job.options.loudness is not None else None
        return ConversionResult(output, measured)

    def report(
        self,
        src: Path,
        source: Probe,
        dst: Path,
        output_seconds: float,
        png: Path,
        output_is_input: bool = False,
    ) -> MediaReport:
        """Draws a waveform 'picture' of both files; measures fixed figures (the output
        0.5 s longer than the encoder said); fails as ``fail_report_with`` says."""
        self.reports.append((src.read_bytes(), dst.read_bytes()))
        self.decoded_once.append(output_is_input)
        if self.during_report:
            self.during_report()
        if self.fail_report_with:
            raise ConversionFailed(self.fail_report_with)
        png.write_bytes(b"PNG of " + src.read_bytes() + b" and " + dst.read_bytes())
        loudness = (Loudness(-23.0, 6.0, -4.0), Loudness(-16.0, 4.0, -1.5))
        return MediaReport(*loudness, output_seconds + 0.5, png)

    def measure_gain(self, path: Path, seconds: float) -> Measured:
        """A file's 'loudness': -30 LUFS plus its length (before any gain tags) mod 10,
        over ten blocks; a file holding SILENCE is silence."""
        audio = path.read_bytes().partition(b"|gain")[0]
        self.gain_measured.append(audio)
        level = -200.0 if b"SILENCE" in audio else -30.0 + len(audio) % 10
        return Measured((level,) * 10, 0.5)

    def write_gain(self, path: Path, target: str, gain: Gain | None) -> None:
        """Appends (replaces) ``|gain track album`` at the file's end (None: removes it)."""
        audio = path.read_bytes().partition(b"|gain")[0]
        added = f"|gain {gain.track_gain} {gain.album_gain}".encode() if gain else b""
        path.write_bytes(audio + added)

    def split(
        self,
        src: Path,
        source: Probe,
        starts: Sequence[int],
        tags: Sequence[Mapping[str, str]],
        folder: Path,
    ) -> list[Path]:
        """Each track: the audio's bytes from its start (a byte a sample) to the next."""
        data = src.read_bytes()
        bounds = [*starts, len(data)]
        paths = []
        for n, track_tags in enumerate(tags):
            path = folder / f"track-{n + 1:02d}.flac"
            path.write_bytes(
                b"AUDIO " + data[bounds[n] : bounds[n + 1]] + repr(track_tags).encode()
            )
            paths.append(path)
        return paths

    def check(self) -> None:
        pass


class FakeWebhooks:
    """Records each POST and answers with the next of ``outcomes`` (then 200)."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.posts: list[tuple[str, bytes, dict[str, str]]] = []
        # Hosts the SSRF guard refuses (the adapter: loopback, private, link-local ones).
        self.refused_hosts: set[str] = set()

    def check(self, url: str) -> None:
        host = urllib.parse.urlsplit(url).hostname
        if host in self.refused_hosts:
            raise ValueError(f"webhookUrl: {host} is a private address (fake)")

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        self.posts.append((url, body, headers))
        return self.outcomes.pop(0) if self.outcomes else Outcome(status=200)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def fake_deps(tmp_path: Path) -> Dependencies:
    settings = Settings(data_dir=tmp_path, secret_key="unit-test-secret-key-long-enough-x")
    uow = FakeUnitOfWork()
    return Dependencies(
        settings=settings, uow=uow.begin, blobs=FakeBlobs(), bus=FakeBus(),
        mailer=FakeMailer(), transcoder=FakeTranscoder(), webhooks=FakeWebhooks(),
        clock=Clock(),
    )  # fmt: skip


def member(deps: Dependencies, name: str = "ann", *, verified: bool = True) -> User:
    """A signed-up account (password ``password1``), its address verified unless not
    ``verified`` (as if its owner had followed the mailed link), and the sign-up's ask
    for that mail taken off the fake bus, so tests see only what they publish."""
    from audioconv.services import auth, verification

    user = auth.signup(deps, name, f"{name}@example.com", "password1", "password1")
    if isinstance(deps.bus, FakeBus):
        deps.bus.published = [
            m for m in deps.bus.published if verification.ACCOUNT_MAIL not in m[2]
        ]
    if verified:
        user.email_verified_at = deps.clock()
    return user


def configure(deps: Dependencies, **changes: object) -> None:
    """Give ``deps`` settings with ``changes`` (by field name)."""
    deps.settings = deps.settings.model_copy(update=changes)


def routes_app() -> Flask:
    """The API over fakes, for tests that read its routes or its OpenAPI document
    (neither depends on the adapters), not for serving requests."""
    from audioconv.entrypoints.api import create_app

    return create_app(fake_deps(Path("unused-data-dir")))


def bus(deps: Dependencies) -> FakeBus:
    """The fake bus of ``fake_deps``' dependencies."""
    return cast(FakeBus, deps.bus)


def blobs(deps: Dependencies) -> FakeBlobs:
    """The fake blob store of ``fake_deps``' dependencies."""
    return cast(FakeBlobs, deps.blobs)


def user_id(deps: Dependencies, name: str = "ann") -> int:
    """The id of a new member named ``name``."""
    user = member(deps, name)
    assert user.id is not None
    return user.id


__all__ = ["TaskStatus", "fake_deps", "routes_app"]

if TYPE_CHECKING:  # mypy checks each fake against the port it stands for (make lint)
    from audioconv import ports

    _users: ports.UserRepository = FakeUsers()
    _tokens: ports.TokenRepository = FakeTokens()
    _queue: ports.QueuedMessageRepository = FakeQueue()
    _tasks: ports.TaskRepository = FakeTasks()
    _throttles: ports.ThrottleRepository = FakeThrottles()
    _uploads: ports.UploadRepository = FakeUploads()
    _batches: ports.BatchRepository = FakeBatches(FakeTasks())
    _uow: ports.UnitOfWork = FakeUnitOfWork()
    _uow_factory: ports.UnitOfWorkFactory = FakeUnitOfWork().begin
    _blobs: ports.BlobStore = FakeBlobs()
    _bus: ports.EventBus = FakeBus()
    _mailer: ports.Mailer = FakeMailer()
    _transcoder: ports.Transcoder = FakeTranscoder()
    _webhooks: ports.WebhookSender = FakeWebhooks()
