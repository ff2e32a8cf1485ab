"""Direct uploads on fakes: the ticket, the one PUT each URL takes, and what an
announced object becomes (a task, a failed task, or nothing)."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import pytest

from audioconv.domain.errors import Conflict, NotFound, PayloadTooLarge, TooManyRequests
from audioconv.domain.model import TaskStatus
from audioconv.domain.options import requested_options
from audioconv.ports import Probe
from audioconv.services import batches, direct_uploads, tasks
from audioconv.services.dependencies import Dependencies
from tests.unit.fakes import Clock, FakeBlobs, FakeBus, FakeTranscoder, fake_deps, member

AUDIO = b"AUDIO some samples"


@pytest.fixture
def deps(tmp_path: Path) -> Dependencies:
    return fake_deps(tmp_path)


def _user(deps: Dependencies, name: str = "ann") -> int:
    return member(deps, name).id or 0


def _blobs(deps: Dependencies) -> FakeBlobs:
    return cast(FakeBlobs, deps.blobs)


def _bus(deps: Dependencies) -> FakeBus:
    return cast(FakeBus, deps.bus)


def _key(ticket: direct_uploads.UploadTicket) -> str:
    return unquote(urlsplit(ticket.url).path).removeprefix("/")


def test_a_ticket_names_the_url_its_headers_and_when_it_expires(deps: Dependencies) -> None:
    uid = _user(deps)
    ticket = direct_uploads.start(deps, uid, "../My Song.wav", ".FLAC")
    key = f"direct-uploads/{uid}/{ticket.upload_id}/flac/My Song.wav"
    ttl, limit = deps.settings.signed_url_ttl_seconds, deps.settings.max_upload_bytes
    assert _key(ticket) == key and urlsplit(ticket.url).query == f"ttl={ttl}&max={limit}"
    assert ticket.headers == {"Content-Type": "application/octet-stream",
                              "x-goog-if-generation-match": "0",
                              "x-goog-content-length-range": f"0,{limit}"}  # fmt: skip
    assert ticket.expires_at == cast(Clock, deps.clock).now + timedelta(seconds=ttl)
    assert len(ticket.upload_id) == 32
    assert direct_uploads.find(deps, uid, ticket.upload_id) is None  # not arrived yet


def test_a_ticket_is_refused_to_a_user_at_the_task_quota(
    deps: Dependencies, tmp_path: Path
) -> None:
    deps.settings = deps.settings.model_copy(update={"quota_tasks_in_flight": 1})
    uid = _user(deps)
    upload = tmp_path / "a.mp3"
    upload.write_bytes(AUDIO)
    tasks.create_task(deps, uid, upload, "a.mp3", "ogg")
    with pytest.raises(TooManyRequests):
        direct_uploads.start(deps, uid, "b.wav", "mp3")


def test_an_upload_id_never_given_out_is_not_found(deps: Dependencies) -> None:
    with pytest.raises(NotFound, match="no upload 'ABC'"):
        direct_uploads.find(deps, 1, "ABC")
    with pytest.raises(NotFound):
        direct_uploads.find(deps, 1, "a" * 33)


def test_the_put_body_is_stored_and_announced_once(deps: Dependencies) -> None:
    ticket = direct_uploads.start(deps, _user(deps), "a.wav", "mp3")
    key = _key(ticket)
    assert direct_uploads.receive(deps, key, io.BytesIO(AUDIO)) == len(AUDIO)
    assert _blobs(deps).files[key] == AUDIO
    assert _blobs(deps).content_types[key] == "application/octet-stream"
    assert _bus(deps).published == [(deps.settings.direct_uploads_topic, {"key": key}, {})]
    with pytest.raises(Conflict, match=r"^this upload URL has already been used; start a new"):
        direct_uploads.receive(deps, key, io.BytesIO(b"AUDIO another body"))
    assert _blobs(deps).files[key] == AUDIO


def test_a_put_over_the_limit_stores_nothing(deps: Dependencies) -> None:
    deps.settings = deps.settings.model_copy(update={"max_upload_bytes": len(AUDIO)})
    key = _key(direct_uploads.start(deps, _user(deps), "a.wav", "mp3"))
    with pytest.raises(PayloadTooLarge, match=f"limit of {len(AUDIO)} bytes"):
        direct_uploads.receive(deps, key, io.BytesIO(AUDIO + b"!"))
    assert _blobs(deps).files == {} and _bus(deps).published == []
    assert direct_uploads.receive(deps, key, io.BytesIO(AUDIO)) == len(AUDIO)  # exactly fits


def test_a_failed_announcement_still_stores_the_body(deps: Dependencies) -> None:
    key = _key(direct_uploads.start(deps, _user(deps), "a.wav", "mp3"))
    _bus(deps).down = True
    assert direct_uploads.receive(deps, key, io.BytesIO(AUDIO)) == len(AUDIO)
    assert _blobs(deps).files[key] == AUDIO


def _arrive(deps: Dependencies, key: str, body: bytes = AUDIO) -> Any:
    _blobs(deps).files[key] = body
    return direct_uploads.finalize(deps, key)


def test_an_announced_upload_becomes_its_task_once(deps: Dependencies) -> None:
    uid = _user(deps)
    ticket = direct_uploads.start(deps, uid, "a.wav", "mp3")
    task = _arrive(deps, _key(ticket))
    assert (task.status, task.input_key, task.input_bytes) == (
        TaskStatus.UPLOADED, _key(ticket), len(AUDIO))  # fmt: skip
    assert direct_uploads.find(deps, uid, ticket.upload_id) is task
    assert direct_uploads.finalize(deps, _key(ticket)) is task
    assert len(tasks.list_tasks(deps, uid, None, False)) == 1
    topics = [topic for topic, _, _ in _bus(deps).published]
    assert topics == [deps.settings.conversion_topic]


def test_objects_that_are_not_direct_uploads_are_ignored(deps: Dependencies) -> None:
    _blobs(deps).files["uploads/x/a.wav"] = AUDIO
    assert direct_uploads.finalize(deps, "uploads/x/a.wav") is None
    assert direct_uploads.finalize(deps, "") is None
    assert set(_blobs(deps).files) == {"uploads/x/a.wav"}


def test_an_upload_for_no_account_is_removed(deps: Dependencies) -> None:
    key = f"direct-uploads/42/{'a' * 32}/mp3/a.wav"
    assert _arrive(deps, key) is None
    assert _blobs(deps).files == {}


def test_an_upload_deleted_before_its_announcement_is_nothing(deps: Dependencies) -> None:
    key = _key(direct_uploads.start(deps, _user(deps), "a.wav", "mp3"))
    assert direct_uploads.finalize(deps, key) is None
    assert _bus(deps).published == []


def test_a_used_upload_written_again_after_its_task_was_deleted_is_removed(
    deps: Dependencies,
) -> None:
    uid = _user(deps)
    key = _key(direct_uploads.start(deps, uid, "a.wav", "mp3"))
    task = _arrive(deps, key)
    tasks.delete_task(deps, uid, task.id)
    assert _arrive(deps, key) is None
    assert _blobs(deps).files == {} and tasks.list_tasks(deps, uid, None, False) == []


@pytest.mark.parametrize(
    ("body", "limit", "reason"),
    [(b"plain text", None, "not an audio file we can read (fake)"),
     (AUDIO, 4, "upload is larger than the limit of 4 bytes")],
)  # fmt: skip
def test_a_refused_upload_is_a_failed_task_with_its_reason_and_no_file(
    deps: Dependencies, body: bytes, limit: int | None, reason: str
) -> None:
    if limit is not None:
        deps.settings = deps.settings.model_copy(update={"max_upload_bytes": limit})
    uid = _user(deps)
    ticket = direct_uploads.start(deps, uid, "a.wav", "mp3", requested_options({"quality": "high"}))
    task = _arrive(deps, _key(ticket), body)
    assert (task.status, task.error, task.options.as_json()) == (
        TaskStatus.FAILED, reason, {"quality": "high"})  # fmt: skip
    assert task.input_probe is None and task.input_bytes == 0
    assert _blobs(deps).files == {}
    assert [topic for topic, _, _ in _bus(deps).published] == [deps.settings.finished_topic]
    # Announced again, or written again through the same URL: the same task, nothing kept.
    assert _arrive(deps, _key(ticket), AUDIO) is task
    assert _blobs(deps).files == {}
    assert direct_uploads.find(deps, uid, ticket.upload_id) is task


def test_a_refused_uploads_url_takes_nothing_more_not_even_its_body(deps: Dependencies) -> None:
    ticket = direct_uploads.start(deps, _user(deps), "a.wav", "mp3")
    key = _key(ticket)
    task = _arrive(deps, key, b"plain text")  # refused: its file is gone, its id used up
    assert task.status is TaskStatus.FAILED and _blobs(deps).files == {}
    body = io.BytesIO(AUDIO)
    with pytest.raises(Conflict):
        direct_uploads.receive(deps, key, body)
    assert body.tell() == 0 and _blobs(deps).files == {}
    stored = direct_uploads.start(deps, task.user_id, "b.wav", "mp3")
    direct_uploads.receive(deps, _key(stored), io.BytesIO(AUDIO))  # stored, not yet a task
    again = io.BytesIO(b"AUDIO again")
    with pytest.raises(Conflict):
        direct_uploads.receive(deps, _key(stored), again)
    assert again.tell() == 0


class _RacingBody(io.BytesIO):
    """A PUT body that is still streaming when another PUT of the same URL is stored."""

    def __init__(self, data: bytes, store: FakeBlobs, key: str) -> None:
        super().__init__(data)
        self.store, self.key = store, key

    def read(self, size: int | None = -1) -> bytes:
        if self.key not in self.store.files:
            self.store.files[self.key] = b"AUDIO the other PUT, stored first"
        return super().read(size)


def test_of_two_puts_at_once_only_the_first_to_finish_is_kept(deps: Dependencies) -> None:
    key = _key(direct_uploads.start(deps, _user(deps), "a.wav", "mp3"))
    with pytest.raises(Conflict, match="already been used"):
        direct_uploads.receive(deps, key, _RacingBody(AUDIO, _blobs(deps), key))
    assert _blobs(deps).files[key] == b"AUDIO the other PUT, stored first"


def test_the_upload_limit_counts_every_chunk_of_a_large_body(deps: Dependencies) -> None:
    limit = 3 << 19  # 1.5 MiB: each 1 MiB chunk fits, the body does not
    deps.settings = deps.settings.model_copy(update={"max_upload_bytes": limit})
    key = _key(direct_uploads.start(deps, _user(deps), "a.wav", "mp3"))
    with pytest.raises(PayloadTooLarge):
        direct_uploads.receive(deps, key, io.BytesIO(b"AUDIO" + bytes(2 << 20)))
    assert _blobs(deps).files == {}


def test_an_arrived_upload_keeps_its_webhook_batch_and_probe(deps: Dependencies) -> None:
    uid = _user(deps)
    batch = batches.create_batch(deps, uid, "album")
    hook = "https://hooks.example.com/x"
    low = requested_options({"quality": "low"})
    ticket = direct_uploads.start(deps, uid, "a.wav", "ogg", low, webhook_url=hook,
                                  batch_id=batch.id)  # fmt: skip
    task = _arrive(deps, _key(ticket))
    assert (task.file_name, task.output_format, task.status) == ("a.wav", "ogg",
                                                                TaskStatus.UPLOADED)  # fmt: skip
    assert task.webhook_url == "https://hooks.example.com/x" and task.batch_id == batch.id
    assert task.input_probe is not None and task.input_probe.codec == "mp3"
    assert task.options.as_json() == {"quality": "low"}


def test_a_refused_upload_keeps_its_name_format_webhook_and_batch(deps: Dependencies) -> None:
    uid = _user(deps)
    batch = batches.create_batch(deps, uid)
    ticket = direct_uploads.start(deps, uid, "a.wav", "ogg", webhook_url="https://h.example/",
                                 batch_id=batch.id)  # fmt: skip
    task = _arrive(deps, _key(ticket), b"plain text")
    assert (task.status, task.file_name, task.output_format) == (TaskStatus.FAILED, "a.wav", "ogg")
    assert task.webhook_url == "https://h.example/" and task.batch_id == batch.id


def test_an_upload_whose_batch_was_deleted_meanwhile_is_removed(deps: Dependencies) -> None:
    uid = _user(deps)
    batch = batches.create_batch(deps, uid)
    other = batches.create_batch(deps, uid)
    gone = _key(direct_uploads.start(deps, uid, "a.wav", "mp3", batch_id=batch.id))
    kept = _key(direct_uploads.start(deps, uid, "b.wav", "mp3", batch_id=other.id))
    batches.delete_batch(deps, uid, batch.id or 0)
    refused = _arrive(deps, gone)  # a failed task, so its upload does not stay "pending"
    assert refused.status is TaskStatus.FAILED and "was deleted" in (refused.error or "")
    assert refused.batch_id is None and gone not in _blobs(deps).files
    assert _arrive(deps, kept).batch_id == other.id


def test_an_upload_of_exactly_the_limit_is_taken(deps: Dependencies) -> None:
    deps.settings = deps.settings.model_copy(update={"max_upload_bytes": len(AUDIO)})
    task = _arrive(deps, _key(direct_uploads.start(deps, _user(deps), "a.wav", "mp3")))
    assert task.status is TaskStatus.UPLOADED


def test_an_uploads_trim_is_checked_against_its_audio_when_it_arrives(deps: Dependencies) -> None:
    uid = _user(deps)
    fits = _arrive(
        deps, _key(direct_uploads.start(deps, uid, "a.wav", "mp3", requested_options({"end": 1})))
    )
    assert fits.status is TaskStatus.UPLOADED and fits.options.as_json() == {"end": 1.0}
    past = _arrive(
        deps, _key(direct_uploads.start(deps, uid, "b.wav", "mp3", requested_options({"end": 5})))
    )
    assert past.status is TaskStatus.FAILED
    assert past.error == "end (5 s) is past the audio's end (1 s)"  # the fake's audio: 1 s


def test_an_output_too_large_for_the_limit_is_refused_when_it_arrives(deps: Dependencies) -> None:
    deps.settings = deps.settings.model_copy(update={"max_output_bytes": 1000})
    task = _arrive(deps, _key(direct_uploads.start(deps, _user(deps), "a.wav", "wav")))
    assert task.status is TaskStatus.FAILED and task.error is not None
    assert "wav" in task.error and _blobs(deps).files == {}


def test_the_chosen_options_can_make_an_uploads_output_fit_the_limit(deps: Dependencies) -> None:
    deps.settings = deps.settings.model_copy(update={"max_output_bytes": 200_000})
    uid = _user(deps)  # the fake's audio: 1 s at 44.1 kHz, stereo (176,400 bytes as wav)
    whole = _arrive(deps, _key(direct_uploads.start(deps, uid, "a.wav", "wav")))
    assert whole.status is TaskStatus.FAILED
    mono = _arrive(
        deps,
        _key(direct_uploads.start(deps, uid, "b.wav", "wav", requested_options({"channels": 1}))),
    )
    assert mono.status is TaskStatus.UPLOADED


class _RacingTranscoder(FakeTranscoder):
    """Another worker handles the same announcement while this one probes the file."""

    def __init__(self, race: Callable[[], object]) -> None:
        super().__init__()
        self.race: Callable[[], object] | None = race

    def probe(self, path: Path, limits: bool = True) -> Probe:
        race, self.race = self.race, None
        if race is not None:
            race()
        return super().probe(path, limits)


def test_an_upload_announced_twice_at_once_makes_one_task(deps: Dependencies) -> None:
    uid = _user(deps)
    key = _key(direct_uploads.start(deps, uid, "a.wav", "mp3"))
    _blobs(deps).files[key] = AUDIO
    other: list[Any] = []
    deps.transcoder = _RacingTranscoder(lambda: other.append(direct_uploads.finalize(deps, key)))
    task = direct_uploads.finalize(deps, key)
    assert task is not None and task is other[0]
    assert tasks.list_tasks(deps, uid, None, False) == [task]
    assert _blobs(deps).files == {key: AUDIO}


def test_the_quota_is_checked_again_when_an_upload_arrives(deps: Dependencies) -> None:
    deps.settings = deps.settings.model_copy(update={"quota_tasks_in_flight": 1})
    uid = _user(deps)
    audio = _key(direct_uploads.start(deps, uid, "a.wav", "mp3"))
    text = _key(direct_uploads.start(deps, uid, "b.wav", "mp3"))
    _arrive(deps, _key(direct_uploads.start(deps, uid, "c.wav", "mp3")))  # now at the quota
    over = _arrive(deps, audio)
    assert over.status is TaskStatus.FAILED and over.error == (
        "you have 1 conversions waiting or running, the limit is 1; send more when some "
        "have finished"
    )
    refused = _arrive(deps, text, b"plain text")  # refused anyway: recorded, not counted
    assert refused.error == "not an audio file we can read (fake)"
