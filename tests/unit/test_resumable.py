"""Resumable (tus) uploads on fakes: what a creation checks and records on disk, how
PATCHes append, resume, refuse and complete, and when an upload is gone.
tests/integration/test_resumable_uploads.py speaks the protocol over HTTP."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import IO, Any, cast

import pytest

from audioconv.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
)
from audioconv.domain.model import TaskStatus
from audioconv.domain.options import ConversionOptions, requested_options
from audioconv.services import batches, resumable
from audioconv.services.dependencies import Dependencies
from tests.unit.fakes import (
    Clock,
    FakeBlobs,
    FakeUnitOfWork,
    FakeUploads,
    configure,
    user_id,
)

AUDIO = b"AUDIO resumable samples"


def _clock(deps: Dependencies) -> Clock:
    return cast(Clock, deps.clock)


def _create(
    deps: Dependencies,
    uid: int,
    length: int,
    metadata: dict[str, str],
    options: ConversionOptions | None = None,
    **fields: Any,
) -> resumable.Upload:
    """A creation as the tus route makes it from its Upload-Metadata."""
    return resumable.create(deps, uid, length, resumable.named_file(metadata),
                            metadata.get("newFormat"), options, **fields)  # fmt: skip


def _start(deps: Dependencies, uid: int, length: int = len(AUDIO)) -> resumable.Upload:
    return _create(deps, uid, length, {"filename": "Song.mp3", "newFormat": "flac"})


def _uploads(deps: Dependencies) -> FakeUploads:
    return cast(FakeUnitOfWork, deps.uow.__self__).uploads  # type: ignore[attr-defined]


def _files(deps: Dependencies) -> list[str]:
    return sorted(p.name for p in resumable.folder(deps).iterdir())


class Broken(io.BytesIO):
    """A body whose connection breaks (``error``) once ``good`` bytes are read."""

    def __init__(self, data: bytes, good: int, error: BaseException) -> None:
        super().__init__(data[:good])
        self.error = error
        self.sizes: list[int] = []

    def read(self, size: int | None = -1, /) -> bytes:
        self.sizes.append(size or -1)
        chunk = super().read(size)
        if not chunk:
            raise self.error
        return chunk


@contextlib.contextmanager
def _patching(deps: Dependencies, upload: resumable.Upload) -> Iterator[IO[bytes]]:
    """The upload's part file locked, as a running PATCH holds it."""
    with (resumable.folder(deps) / f"{upload.upload_id}.part").open("ab") as out:
        fcntl.flock(out.fileno(), fcntl.LOCK_EX)
        yield out


# --- creation ---------------------------------------------------------------------------


def test_a_creation_records_the_upload_beside_its_empty_part_file(deps: Dependencies) -> None:
    uid = user_id(deps)
    configure(deps, resumable_upload_hours=2.5)
    options = requested_options({"bitrate": 96})
    upload = _create(deps, uid, 1000, {"fileName": "../a/My Song?.wav",
                                                "newFormat": "MP3"}, options)  # fmt: skip
    assert len(upload.upload_id) == 32 and int(upload.upload_id, 16) >= 0
    assert (upload.user_id, upload.length, upload.offset, upload.done) == (uid, 1000, 0, False)
    assert upload.key == f"direct-uploads/{uid}/{upload.upload_id}/mp3+bitrate=96/My Song_.wav"
    assert upload.expires_at == deps.clock() + timedelta(hours=2.5)
    assert _files(deps) == [f"{upload.upload_id}.json", f"{upload.upload_id}.part"]
    record = json.loads((resumable.folder(deps) / f"{upload.upload_id}.json").read_text())
    assert record == {"userId": uid, "length": 1000, "key": upload.key,
                      "expiresAt": upload.expires_at.isoformat()}  # fmt: skip
    assert resumable.find(deps, uid, upload.upload_id) == upload
    assert _uploads(deps).webhooks == {}


@pytest.mark.parametrize(("metadata", "name"), [
    ({"filename": "a.wav", "fileName": "b.wav", "name": "c.wav"}, "a.wav"),
    ({"filename": "", "fileName": "b.wav"}, "b.wav"),
    ({"name": "c.wav"}, "c.wav"),
])  # fmt: skip
def test_the_file_is_named_by_the_first_name_key_given(
    deps: Dependencies, metadata: dict[str, str], name: str
) -> None:
    upload = _create(deps, user_id(deps), 10, {**metadata, "newFormat": "wav"})
    assert upload.key.endswith(f"/wav/{name}")


def test_a_creation_in_a_batch_with_a_webhook(deps: Dependencies) -> None:
    uid = user_id(deps)
    batch = batches.create_batch(deps, uid)
    upload = _create(deps, uid, 10, {"filename": "a.wav", "newFormat": "ogg"},
                              webhook_url="https://hooks.example.org/h",
                              batch_id=batch.id)  # fmt: skip
    assert f"/{upload.upload_id}/batch-{batch.id}/ogg/a.wav" in upload.key
    uploads = _uploads(deps)
    assert uploads.webhooks == {upload.upload_id: "https://hooks.example.org/h"}
    assert uploads.owners == {upload.upload_id: uid}
    with pytest.raises(NotFound):
        _create(deps, user_id(deps, "bob"), 10, {"filename": "a.wav", "newFormat": "ogg"},
                         batch_id=batch.id)  # fmt: skip


def test_a_creation_is_refused_with_the_reason(deps: Dependencies) -> None:
    uid = user_id(deps)
    configure(deps, max_upload_bytes=100)
    assert _start(deps, uid, 100).length == 100  # the limit itself is allowed
    with pytest.raises(PayloadTooLarge, match=r"^upload is larger than the limit of 100 bytes$"):
        _start(deps, uid, 101)
    with pytest.raises(
        InvalidInput, match=r"^Upload-Metadata must name the file: filename <base64"
    ):
        _create(deps, uid, 10, {"filename": "", "newFormat": "mp3"})
    with pytest.raises(InvalidInput, match="format"):
        _create(deps, uid, 10, {"filename": "a.wav"})
    with pytest.raises(InvalidInput, match=r"^wav is lossless: it has no bitrate to choose$"):
        _create(deps, uid, 10, {"filename": "a.wav", "newFormat": "wav"},
                         requested_options({"bitrate": 96}))  # fmt: skip
    configure(deps, quota_stored_bytes=50)
    with pytest.raises(PayloadTooLarge, match="over your storage quota of 50 bytes"):
        _start(deps, uid, 51)
    configure(deps, quota_tasks_in_flight=0, quota_stored_bytes=0, blob_backend="gcs")
    with pytest.raises(NotFound, match=r"^resumable \(tus\) uploads are for the embedded mode"):
        _start(deps, uid)
    assert len(_files(deps)) == 2  # the one allowed, nothing of the refused ones


def test_a_full_in_flight_quota_refuses_a_creation(deps: Dependencies) -> None:
    configure(deps, quota_tasks_in_flight=1)
    uid = user_id(deps)
    resumable.append(deps, uid, _start(deps, uid).upload_id, 0, io.BytesIO(AUDIO))  # one task
    with pytest.raises(TooManyRequests):
        _start(deps, uid)


# --- finding, expiry and the sweep --------------------------------------------------------


def test_an_upload_is_found_by_its_owner_alone_until_it_expires(deps: Dependencies) -> None:
    uid = user_id(deps)
    upload = _start(deps, uid)
    gone = f"^no resumable upload '{upload.upload_id}' \\(finished, ended or expired\\)$"
    with pytest.raises(NotFound, match=gone):
        resumable.find(deps, user_id(deps, "bob"), upload.upload_id)
    for bad in (upload.upload_id.upper(), upload.upload_id[:-1], f"{upload.upload_id}0", "../x"):
        with pytest.raises(NotFound, match="no resumable upload"):
            resumable.find(deps, uid, bad)
    _clock(deps).now = upload.expires_at - timedelta(seconds=1)
    assert resumable.find(deps, uid, upload.upload_id).upload_id == upload.upload_id
    _clock(deps).advance(1)  # the moment it expires
    with pytest.raises(NotFound, match=gone):
        resumable.find(deps, uid, upload.upload_id)
    assert _files(deps) == []  # an expired upload is removed when it is asked for


@pytest.mark.parametrize("damage", ["json", "part", "record"])
def test_an_upload_missing_a_file_or_its_record_is_not_found(
    deps: Dependencies, damage: str
) -> None:
    uid = user_id(deps)
    upload = _start(deps, uid)
    where = resumable.folder(deps)
    if damage == "record":
        (where / f"{upload.upload_id}.json").write_text("{not json")
    else:
        (where / f"{upload.upload_id}.{damage}").unlink()
    with pytest.raises(NotFound):
        resumable.find(deps, uid, upload.upload_id)


def test_the_sweep_removes_expired_uploads_and_each_creation_runs_it(deps: Dependencies) -> None:
    uid = user_id(deps)
    old, due = _start(deps, uid), None
    _clock(deps).advance(3600)
    due = _start(deps, uid)
    (resumable.folder(deps) / "junk.json").write_text("{}")  # not a record: left alone
    _clock(deps).now = old.expires_at
    assert resumable.sweep(deps) == 1
    assert _files(deps) == sorted([f"{due.upload_id}.json", f"{due.upload_id}.part", "junk.json"])
    _clock(deps).now = due.expires_at
    fresh = _start(deps, uid)  # the creation sweeps the one expired now
    assert _files(deps) == sorted([f"{fresh.upload_id}.json", f"{fresh.upload_id}.part",
                                   "junk.json"])  # fmt: skip
    assert resumable.sweep(deps) == 0


def test_a_deleted_account_loses_its_unfinished_uploads_alone(deps: Dependencies) -> None:
    ann, bob = user_id(deps), user_id(deps, "bob")
    _start(deps, ann), _start(deps, ann)
    kept = _start(deps, bob)
    (resumable.folder(deps) / "junk.json").write_text("{}")
    assert resumable.forget_user(deps, ann) == 2
    assert _files(deps) == sorted([f"{kept.upload_id}.json", f"{kept.upload_id}.part",
                                   "junk.json"])  # fmt: skip
    assert resumable.forget_user(deps, ann) == 0


# --- PATCH --------------------------------------------------------------------------------


def test_patches_append_at_the_offset_and_the_last_byte_makes_the_task(
    deps: Dependencies,
) -> None:
    uid = user_id(deps)
    upload = _start(deps, uid)
    first = resumable.append(deps, uid, upload.upload_id, 0, io.BytesIO(AUDIO[:5]))
    assert (first.offset, first.done, first.task) == (5, False, None)
    assert resumable.find(deps, uid, upload.upload_id).offset == 5
    with pytest.raises(Conflict, match=r"^Upload-Offset 0 is not the upload's offset 5$"):
        resumable.append(deps, uid, upload.upload_id, 0, io.BytesIO(AUDIO[5:]))
    last = resumable.append(deps, uid, upload.upload_id, 5, io.BytesIO(AUDIO[5:]))
    assert (last.offset, last.done) == (len(AUDIO), True)
    assert last.task is not None and last.task.status is TaskStatus.UPLOADED
    assert (last.task.file_name, last.task.output_format) == ("Song.mp3", "flac")
    assert cast(FakeBlobs, deps.blobs).files[last.key] == AUDIO
    assert cast(FakeBlobs, deps.blobs).content_types[last.key] == "application/octet-stream"
    assert _files(deps) == []  # the upload is over: HEAD and PATCH find nothing
    with pytest.raises(NotFound):
        resumable.find(deps, uid, upload.upload_id)


def test_a_file_stored_by_a_request_that_died_still_makes_its_task(deps: Dependencies) -> None:
    uid = user_id(deps)
    upload = _start(deps, uid)
    cast(FakeBlobs, deps.blobs).files[upload.key] = AUDIO  # stored, then the process died
    done = resumable.append(deps, uid, upload.upload_id, 0, io.BytesIO(AUDIO))
    assert done.task is not None and done.task.input_key == upload.key


def test_a_body_past_the_length_keeps_nothing_of_the_patch(deps: Dependencies) -> None:
    uid = user_id(deps)
    upload = _start(deps, uid, 30)
    resumable.append(deps, uid, upload.upload_id, 0, io.BytesIO(b"x" * 10))
    with pytest.raises(InvalidInput, match=r"^the body goes past Upload-Length 30$"):
        resumable.append(deps, uid, upload.upload_id, 10, io.BytesIO(b"y" * 21))
    assert resumable.find(deps, uid, upload.upload_id).offset == 10
    exactly = resumable.append(deps, uid, upload.upload_id, 10, io.BytesIO(b"y" * 19))
    assert exactly.offset == 29 and not exactly.done


def test_a_broken_connection_keeps_what_arrived_in_pieces_of_64_kib(deps: Dependencies) -> None:
    uid = user_id(deps)
    data = b"z" * (3 * resumable.CHUNK)
    upload = _start(deps, uid, len(data))
    body = Broken(data, 2 * resumable.CHUNK + 10, ConnectionResetError("reset by peer"))
    with pytest.raises(ConnectionResetError):
        resumable.append(deps, uid, upload.upload_id, 0, body)
    assert resumable.CHUNK == 64 * 1024 and set(body.sizes) == {resumable.CHUNK}
    assert resumable.find(deps, uid, upload.upload_id).offset == 2 * resumable.CHUNK + 10


@pytest.mark.parametrize("error", [ValueError("bad body"), KeyboardInterrupt()])
def test_a_body_failing_otherwise_keeps_nothing(deps: Dependencies, error: BaseException) -> None:
    uid = user_id(deps)
    upload = _start(deps, uid, 100)
    with pytest.raises(type(error)):
        resumable.append(deps, uid, upload.upload_id, 0, Broken(b"a" * 50, 40, error))
    assert resumable.find(deps, uid, upload.upload_id).offset == 0


def _digest(name: str, data: bytes) -> str:
    return f"{name} {base64.b64encode(hashlib.new(name, data).digest()).decode()}"


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "md5"])
def test_a_checksum_is_checked_before_anything_is_kept(deps: Dependencies, algorithm: str) -> None:
    uid = user_id(deps)
    upload = _start(deps, uid, 100)
    good = resumable.append(deps, uid, upload.upload_id, 0, io.BytesIO(b"a" * 10),
                            _digest(algorithm, b"a" * 10))  # fmt: skip
    assert good.offset == 10
    with pytest.raises(resumable.ChecksumMismatch, match=r"^the body does not match"):
        resumable.append(deps, uid, upload.upload_id, 10, io.BytesIO(b"b" * 10),
                         _digest(algorithm, b"c" * 10))  # fmt: skip
    # Even a broken connection keeps nothing of a PATCH that carries a checksum.
    broken = Broken(b"d" * 20, 10, ConnectionResetError("reset"))
    with pytest.raises(ConnectionResetError):
        resumable.append(deps, uid, upload.upload_id, 10, broken, _digest(algorithm, b"d" * 20))
    assert resumable.find(deps, uid, upload.upload_id).offset == 10


@pytest.mark.parametrize("checksum", ["crc32 AAAA", "sha1", "sha1 ", "", "  "])
def test_a_malformed_checksum_is_refused_before_reading(deps: Dependencies, checksum: str) -> None:
    uid = user_id(deps)
    upload = _start(deps, uid, 100)
    with pytest.raises(InvalidInput, match=(
        r"^Upload-Checksum must be '<algorithm> <base64 digest>' with one of sha1, sha256, md5$"
    )):  # fmt: skip
        resumable.append(deps, uid, upload.upload_id, 0, io.BytesIO(b"a"), checksum)
    assert resumable.find(deps, uid, upload.upload_id).offset == 0


def test_one_patch_at_a_time(deps: Dependencies) -> None:
    uid = user_id(deps)
    upload = _start(deps, uid)
    with _patching(deps, upload):
        with pytest.raises(Conflict, match=r"^another PATCH of this upload is running; retry"):
            resumable.append(deps, uid, upload.upload_id, 0, io.BytesIO(AUDIO))
        with pytest.raises(Conflict):
            resumable.terminate(deps, uid, upload.upload_id)
    assert resumable.append(deps, uid, upload.upload_id, 0, io.BytesIO(AUDIO)).done


def test_head_waits_for_a_running_patch_to_end(deps: Dependencies) -> None:
    uid = user_id(deps)
    upload = _start(deps, uid)
    locked = threading.Event()

    def patch() -> None:
        with _patching(deps, upload) as out:
            locked.set()
            time.sleep(0.3)
            out.write(b"12345")

    worker = threading.Thread(target=patch)
    worker.start()
    locked.wait()
    assert resumable.offset_of(deps, uid, upload.upload_id).offset == 5
    worker.join()
    with pytest.raises(NotFound):
        resumable.offset_of(deps, user_id(deps, "bob"), upload.upload_id)


def test_head_answers_as_it_stands_after_the_settle_time(
    deps: Dependencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = user_id(deps)
    upload = _start(deps, uid)
    monkeypatch.setattr(resumable, "SETTLE_SECONDS", 0.2)
    with _patching(deps, upload):
        began = time.monotonic()
        assert resumable.offset_of(deps, uid, upload.upload_id).offset == 0
        assert 0.2 <= time.monotonic() - began < 3


def test_termination_removes_the_upload_and_its_bytes(deps: Dependencies) -> None:
    uid = user_id(deps)
    upload = _start(deps, uid)
    resumable.append(deps, uid, upload.upload_id, 0, io.BytesIO(AUDIO[:4]))
    with pytest.raises(NotFound):
        resumable.terminate(deps, user_id(deps, "bob"), upload.upload_id)
    resumable.terminate(deps, uid, upload.upload_id)
    assert _files(deps) == []


@pytest.mark.parametrize("damaged", ["[]", '{"userId": null}', '"text"', "{"])
def test_a_damaged_record_is_no_upload_and_stops_no_sweep(deps: Dependencies, damaged: str) -> None:
    """A record that is not an object of ours (a disk's damage, a hand's edit): the
    upload is not found, and the sweep and an account's deletion go past it."""
    uid = user_id(deps)
    upload = _start(deps, uid)
    (resumable.folder(deps) / f"{upload.upload_id}.json").write_text(damaged)
    with pytest.raises(NotFound):
        resumable.find(deps, uid, upload.upload_id)
    assert resumable.sweep(deps) == 0
    assert resumable.forget_user(deps, uid) == 0
