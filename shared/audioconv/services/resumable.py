"""Resumable uploads (the tus 1.0 protocol: core, creation, termination, expiration,
checksum) in the embedded mode: the parts of an upload go to a file on the data disk
(``<data dir>/tus/<upload id>.part``, beside the blob store, so the finished file
moves into it with a rename), with what the upload was created for beside it
(``<upload id>.json``: owner, length, the direct upload key it becomes, expiry).

An upload's offset is the size of its part file: what a PATCH wrote before its
connection broke is kept, and the client goes on from there (``HEAD`` says where).
One PATCH at a time per upload (a lock on its part file, across processes). Once
the last byte is in, the file becomes a task exactly as a direct upload does
(``direct_upload.finalize`` on its key), and ``GET /api/uploads/<id>`` finds it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

from audioconv.domain.errors import (
    AudioconvError,
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
)
from audioconv.domain.model import Task, as_utc
from audioconv.domain.options import ConversionOptions
from audioconv.services.batches import check_batch
from audioconv.services.dependencies import Dependencies
from audioconv.services.direct_uploads import CONTENT_TYPE, DirectKey, finalize
from audioconv.services.tasks import check_quota, checked_options, safe_file_name, target_format

VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration,checksum"
# How long HEAD waits for a running PATCH of the upload to end.
SETTLE_SECONDS = 5.0
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
# Read in small pieces: a connection reset loses the piece being read, never more.
CHUNK = 1 << 16
_ID = re.compile(r"[0-9a-f]{32}")
# Metadata keys a creation may carry (base64 values, tus's Upload-Metadata); the
# file's name is ``filename`` (tus-js-client) or ``fileName``.
NAME_KEYS = ("filename", "fileName", "name")
# What reading a record that is gone, damaged, or not an object of ours raises.
_UNREADABLE = (OSError, ValueError, KeyError, TypeError)


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


class ChecksumMismatch(AudioconvError):
    """The PATCH body does not match its Upload-Checksum (tus: 460)."""


@dataclass(frozen=True)
class Upload:
    """One resumable upload: whose, how long, what it becomes, until when, how far."""

    upload_id: str
    user_id: int
    length: int
    key: str
    expires_at: datetime
    offset: int = 0
    task: Task | None = None

    @property
    def done(self) -> bool:
        return self.offset >= self.length


def check_available(deps: Dependencies) -> None:
    """NotFound where uploads do not pass through this server's disk (Cloud Storage:
    a direct upload, ``POST /api/uploads``, takes any size without App Engine)."""
    if deps.settings.blob_backend != "local":
        raise NotFound(
            "resumable (tus) uploads are for the embedded mode; here start a direct "
            "upload (POST /api/uploads), which goes to Cloud Storage"
        )


def folder(deps: Dependencies) -> Path:
    return deps.settings.data_dir / "tus"


def parse_metadata(header: str | None) -> dict[str, str]:
    """tus's ``Upload-Metadata``: ``key base64value`` pairs, comma-separated."""
    found: dict[str, str] = {}
    for pair in (header or "").split(","):
        if not pair.strip():
            continue
        key, _, value = pair.strip().partition(" ")
        if key in found:
            raise InvalidInput(f"Upload-Metadata has {key!r} twice")
        try:
            found[key] = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput(f"Upload-Metadata {key!r} is not base64 of UTF-8 text") from None
    return found


def named_file(metadata: Mapping[str, str]) -> str | None:
    """The file's name in ``Upload-Metadata`` (the first of NAME_KEYS given), if any."""
    return next((metadata[k] for k in NAME_KEYS if metadata.get(k)), None)


def create(
    deps: Dependencies,
    user_id: int,
    length: int,
    file_name: str | None,
    new_format: str | None,
    options: ConversionOptions | None = None,
    webhook_url: str | None = None,
    batch_id: int | None = None,
) -> Upload:
    """A new upload of ``length`` bytes of ``file_name`` to ``new_format``, checked as a
    direct upload is (None for either: InvalidInput, once the size is known to be
    allowed): its id and expiry."""
    check_available(deps)
    limit = deps.settings.max_upload_bytes
    if length > limit:
        raise PayloadTooLarge.over(limit)
    if not file_name:
        raise InvalidInput("Upload-Metadata must name the file: filename <base64 name>")
    target = target_format(new_format)
    chosen = checked_options(options, target)
    check_batch(deps, user_id, batch_id)
    with deps.uow(readonly=True) as uow:
        check_quota(deps, uow, user_id, length)
    sweep(deps)
    upload_id = uuid.uuid4().hex
    name = safe_file_name(file_name)
    key = DirectKey(user_id, upload_id, target, name, chosen.as_json(), batch_id)
    if webhook_url:  # kept until the file arrives and the task is made
        with deps.uow() as uow:
            uow.uploads.set_webhook(upload_id, webhook_url, deps.clock(), user_id)
            uow.commit()
    expires = deps.clock() + timedelta(hours=deps.settings.resumable_upload_hours)
    where = folder(deps)
    where.mkdir(parents=True, exist_ok=True)
    _part(deps, upload_id).touch()
    record = {"userId": user_id, "length": length, "key": key.key,
              "expiresAt": expires.isoformat()}  # fmt: skip
    tmp = where / f"{upload_id}.json.tmp"
    tmp.write_text(json.dumps(record))
    tmp.replace(where / f"{upload_id}.json")  # whole, or not at all
    return Upload(upload_id, user_id, length, key.key, expires)


def _part(deps: Dependencies, upload_id: str) -> Path:
    return folder(deps) / f"{upload_id}.part"


def offset_of(deps: Dependencies, user_id: int, upload_id: str) -> Upload:
    """The user's upload with its offset once no PATCH of it is running (a client whose
    connection broke asks at once, while the server may still be storing what arrived),
    or after ``SETTLE_SECONDS`` as it stands; NotFound as ``find``."""
    find(deps, user_id, upload_id)
    with contextlib.suppress(OSError), _part(deps, upload_id).open("rb") as part:
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            try:
                fcntl.flock(part.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)  # pragma: no mutate (the poll interval)
    return find(deps, user_id, upload_id)


def find(deps: Dependencies, user_id: int, upload_id: str) -> Upload:
    """The user's upload, with its offset; NotFound if it is not theirs, finished,
    ended, or expired (an expired one is removed)."""
    missing = NotFound(f"no resumable upload {upload_id!r} (finished, ended or expired)")
    if not _ID.fullmatch(upload_id):
        raise missing
    try:
        record = json.loads((folder(deps) / f"{upload_id}.json").read_text())
        offset = _part(deps, upload_id).stat().st_size
        upload = Upload(upload_id, int(record["userId"]), int(record["length"]), record["key"],
                        datetime.fromisoformat(record["expiresAt"]), offset)  # fmt: skip
    except _UNREADABLE:
        raise missing from None
    if upload.user_id != user_id:
        raise missing
    if as_utc(upload.expires_at) <= deps.clock():
        _remove(deps, upload_id)
        raise missing
    return upload


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[IO[bytes]]:
    """The part file open for appending, this request's alone (Conflict if another
    PATCH of it is running, in any process)."""
    with path.open("ab") as out:
        try:
            fcntl.flock(out.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict("another PATCH of this upload is running; retry after it") from None
        yield out


def append(
    deps: Dependencies,
    user_id: int,
    upload_id: str,
    offset: int,
    body: Readable,
    checksum: str | None = None,
) -> Upload:
    """Write ``body`` at ``offset`` (which must be the upload's offset: Conflict, tus's
    409, otherwise); the upload as it now stands, with its task once complete.

    A body cut short keeps what arrived (the client resumes from there), unless it
    carries ``checksum`` (``<algorithm> <base64 digest>``), which is checked before
    anything is kept: ChecksumMismatch drops the whole PATCH.
    """
    hasher = _hasher(checksum)
    upload = find(deps, user_id, upload_id)
    part = _part(deps, upload_id)
    with _locked(part) as out:
        stored = out.seek(0, os.SEEK_END)
        if offset != stored:
            raise Conflict(f"Upload-Offset {offset} is not the upload's offset {stored}")
        room = upload.length - stored
        written = 0
        try:
            while chunk := body.read(CHUNK):
                written += len(chunk)
                if written > room:
                    raise InvalidInput(f"the body goes past Upload-Length {upload.length}")
                if hasher is not None:
                    hasher.update(chunk)
                out.write(chunk)
            if hasher is not None and checksum is not None:
                expected = checksum.split(" ", 1)[1].strip()
                if base64.b64encode(hasher.digest()).decode() != expected:
                    raise ChecksumMismatch("the body does not match Upload-Checksum")
        except BaseException as exc:
            # A broken connection keeps what arrived; anything refused keeps nothing.
            cut = isinstance(exc, OSError | EOFError)
            out.flush()
            if hasher is not None or not cut or written > room:
                out.truncate(stored)
            os.fsync(out.fileno())
            raise
        out.flush()
        os.fsync(out.fileno())
        offset = stored + written
    upload = Upload(upload.upload_id, upload.user_id, upload.length, upload.key,
                    upload.expires_at, offset)  # fmt: skip
    if not upload.done:
        return upload
    return Upload(upload.upload_id, upload.user_id, upload.length, upload.key,
                  upload.expires_at, offset, _complete(deps, upload))  # fmt: skip


def _hasher(checksum: str | None) -> Any:
    if checksum is None:
        return None
    algorithm, _, digest = checksum.strip().partition(" ")
    if algorithm not in CHECKSUMS or not digest:
        raise InvalidInput(
            f"Upload-Checksum must be '<algorithm> <base64 digest>' with one of "
            f"{', '.join(CHECKSUMS)}"
        )
    return CHECKSUMS[algorithm]()


def _complete(deps: Dependencies, upload: Upload) -> Task | None:
    """The whole file is in: into the blob store under its direct upload key, and a
    task of it, exactly as a direct upload's arrival makes one."""
    part = _part(deps, upload.upload_id)
    # FileExistsError: stored by an earlier request that died before it made the task.
    with contextlib.suppress(FileExistsError):
        deps.blobs.put_file(upload.key, part, CONTENT_TYPE, if_absent=True, move=True)
    _remove(deps, upload.upload_id)
    return finalize(deps, upload.key)


def terminate(deps: Dependencies, user_id: int, upload_id: str) -> None:
    """tus termination: the upload and its bytes go."""
    find(deps, user_id, upload_id)
    with _locked(_part(deps, upload_id)):
        _remove(deps, upload_id)


def _remove(deps: Dependencies, upload_id: str) -> None:
    for suffix in (".json", ".part"):
        (folder(deps) / f"{upload_id}{suffix}").unlink(missing_ok=True)


def forget_user(deps: Dependencies, user_id: int) -> int:
    """Remove every unfinished upload of ``user_id`` (their account is deleted); how
    many went."""
    gone = 0
    for path in folder(deps).glob("*.json"):
        try:
            owner = int(json.loads(path.read_text())["userId"])
        except _UNREADABLE:
            continue
        if owner == user_id:
            _remove(deps, path.stem)
            gone += 1
    return gone


def sweep(deps: Dependencies) -> int:
    """Remove every expired upload (each creation runs this); how many went."""
    gone = 0
    now = deps.clock()
    for path in folder(deps).glob("*.json"):
        try:
            expires = datetime.fromisoformat(json.loads(path.read_text())["expiresAt"])
        except _UNREADABLE:
            continue
        if as_utc(expires) <= now:
            _remove(deps, path.stem)
            gone += 1
    return gone
