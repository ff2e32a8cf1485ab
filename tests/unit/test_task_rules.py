"""Tasks on fakes, the rules not covered elsewhere: a user's name for something of
theirs, converting again (album gain in a batch, a URL import not fetched yet, the
quotas it counts), the converted file while a convert-again runs, and what a
conversion records of its fidelity."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

import pytest

from audioconv.domain.errors import (
    Conflict,
    InvalidInput,
    PayloadTooLarge,
    TooManyRequests,
)
from audioconv.domain.job import ConversionJob, ConversionResult
from audioconv.domain.media import Loudness
from audioconv.domain.model import Task, TaskStatus
from audioconv.domain.options import ConversionOptions
from audioconv.ports import Probe
from audioconv.services import batches, conversion, tasks
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.unit.fakes import FakeBlobs, FakeTranscoder, configure, user_id

LONG = 20


@pytest.mark.parametrize(("value", "message"), [
    (None, "missing field 'name': to tell keys apart"),
    ("   ", "missing field 'name': to tell keys apart"),
    ("x" * (LONG + 1), "field 'name' must be at most 20 characters"),
    ("a\x1bb", "field 'name' must not contain control characters"),
])  # fmt: skip
def test_a_users_name_for_something_is_refused_in_words(value: object, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        tasks.checked_name(value, "to tell keys apart", LONG)
    assert refused.value.message == message


def test_a_users_name_is_trimmed_and_may_be_as_long_as_the_limit() -> None:
    assert tasks.checked_name("  " + "x" * LONG + " ", "purpose", LONG) == "x" * LONG


def _done(deps: Dependencies, upload: Path, uid: int, target: str = "mp3", **kw: Any) -> Task:
    task = tasks.create_task(deps, uid, upload, "Song.flac", target, **kw)
    conversion.convert(deps, TaskRef.of(task))
    assert task.status is TaskStatus.PROCESSED
    return task


def test_whether_an_output_could_outgrow_the_limit(deps: Dependencies, upload: Path) -> None:
    probe = tasks.check_audio(deps, upload)
    assert tasks.output_too_large(deps, probe, 1000, "wav", ConversionOptions()) is None
    configure(deps, max_output_bytes=1000)
    reason = tasks.output_too_large(deps, probe, 1000, "wav", ConversionOptions()) or ""
    assert reason.startswith("a 1 s input as wav at 44100 Hz, 2 channels would be up to "
                             "243.7 kB; the limit for one output is 1.0 kB")  # fmt: skip


def test_album_gain_may_be_asked_again_for_a_track_of_a_batch(
    deps: Dependencies, upload: Path
) -> None:
    uid = user_id(deps)
    batch = batches.create_batch(deps, uid).id
    task = _done(deps, upload, uid, batch_id=batch)
    again = tasks.change_format(deps, uid, task.id or 0, "ogg", ConversionOptions(gain="album"))
    assert again.options.gain == "album" and again.output_format == "ogg"
    alone = _done(deps, upload, uid)
    with pytest.raises(InvalidInput, match='gain "album" measures a batch\'s tracks together'):
        tasks.change_format(deps, uid, alone.id or 0, "ogg", ConversionOptions(gain="album"))


def test_a_url_import_not_fetched_yet_may_be_retargeted_holding_no_room(
    deps: Dependencies,
) -> None:
    uid = user_id(deps)
    task = tasks.record_task(deps, uid, "imports/x/input", "talk.flac", "mp3", None,
                             source_url="https://example.org/talk.flac")  # fmt: skip
    again = tasks.change_format(deps, uid, task.id or 0, "opus")
    assert (again.output_format, again.reserved_bytes, again.revision) == ("opus", 0, 2)


def test_converting_again_counts_the_owners_stored_bytes(deps: Dependencies, upload: Path) -> None:
    uid = user_id(deps)
    task = _done(deps, upload, uid, target="mp3")
    stored = task.stored_bytes
    configure(deps, quota_stored_bytes=stored + 10)  # no room for a WAV beside it
    with pytest.raises(PayloadTooLarge, match="over your storage quota"):
        tasks.change_format(deps, uid, task.id or 0, "wav")
    configure(deps, quota_stored_bytes=0)
    again = tasks.change_format(deps, uid, task.id or 0, "wav")
    assert again.reserved_bytes > 0  # room held for the new output


def test_converting_again_counts_a_finished_task_as_one_more_in_flight(
    deps: Dependencies, upload: Path
) -> None:
    uid = user_id(deps)
    finished = _done(deps, upload, uid)
    running = tasks.create_task(deps, uid, upload, "Other.flac", "mp3")  # still in flight
    configure(deps, quota_tasks_in_flight=1)
    with pytest.raises(TooManyRequests, match="you have 1 conversions waiting or running"):
        tasks.change_format(deps, uid, finished.id or 0, "ogg")
    # One already in flight takes no more room when it changes.
    assert tasks.change_format(deps, uid, running.id or 0, "ogg").output_format == "ogg"
    configure(deps, quota_tasks_in_flight=2)
    assert tasks.change_format(deps, uid, finished.id or 0, "ogg").revision == 2


def test_while_a_convert_again_runs_the_kept_output_is_the_converted_file(
    deps: Dependencies, upload: Path
) -> None:
    uid = user_id(deps)
    task = _done(deps, upload, uid, target="mp3")
    first = task.output_key
    tasks.change_format(deps, uid, task.id or 0, "flac")
    assert task.status is TaskStatus.UPLOADED and task.output_key is None
    got = tasks.task_download(deps, uid, task.id or 0, "converted")
    assert (got.key, got.name, got.mime_type) == (first, "Song.mp3", "audio/mpeg")
    assert got.size == len(cast(FakeBlobs, deps.blobs).files[first or ""])
    assert tasks.file_download(deps, uid, "Song.flac").key == first  # by the task's name
    task.kept_output_format = "exe"  # a format no longer offered: nothing to send
    with pytest.raises(Conflict, match=f"task {task.id} is uploaded, not processed yet"):
        tasks.task_download(deps, uid, task.id or 0, "converted")


def test_a_conversion_records_its_fidelity_and_the_inputs_loudness(
    deps: Dependencies, upload: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transcoder = cast(FakeTranscoder, deps.transcoder)
    convert = transcoder.convert
    loudness = Loudness(-19.5, 4.0, -2.5)

    def measured(src: Path, job: ConversionJob, dst: Path, on_progress: Any) -> ConversionResult:
        made = convert(src, job, dst, on_progress)
        return dataclasses.replace(made, input_loudness=loudness, warnings=("upsampled",),
                                   verified=True, inexact="MP3 frames")  # fmt: skip

    monkeypatch.setattr(transcoder, "convert", measured)
    task = _done(deps, upload, user_id(deps))
    assert (task.warnings, task.verified) == (["upsampled"], True)
    assert (task.exact_length, task.exact_length_reason) == (False, "MP3 frames")
    assert isinstance(task.input_probe, Probe) and task.input_probe.loudness == loudness


def test_converting_again_counts_the_new_outputs_room_instead_of_the_old(
    deps: Dependencies, upload: Path
) -> None:
    uid = user_id(deps)
    task = tasks.create_task(deps, uid, upload, "Song.flac", "wav")  # holds room for a WAV
    held = task.reserved_bytes
    configure(deps, quota_stored_bytes=task.stored_bytes)  # full, counting that room
    again = tasks.change_format(deps, uid, task.id or 0, "aiff")  # as large as the WAV
    assert (again.output_format, again.reserved_bytes) == ("aiff", held) and held > 0


def test_the_worker_checks_the_storage_quota_again_before_converting(
    deps: Dependencies, upload: Path
) -> None:
    uid = user_id(deps)
    first = tasks.create_task(deps, uid, upload, "a.flac", "wav")
    second = tasks.create_task(deps, uid, upload, "b.flac", "wav")
    total = first.stored_bytes + second.stored_bytes  # inputs and the room held for outputs
    configure(deps, quota_stored_bytes=total - 1)  # lowered since they were uploaded
    conversion.convert(deps, TaskRef.of(first))
    assert first.status is TaskStatus.FAILED
    assert first.error == tasks.quota_message(total, total - 1)
    alone = tasks.create_task(deps, user_id(deps, "bob"), upload, "c.flac", "wav")
    configure(deps, quota_stored_bytes=alone.stored_bytes)  # exactly full: it fits
    conversion.convert(deps, TaskRef.of(alone))
    assert alone.status is TaskStatus.PROCESSED
