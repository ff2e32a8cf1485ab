"""What one conversion leaves behind, on fakes: the stored output and its record, the
reason of a failure, giving up, and the mail the owner gets either way."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from audioconv.domain.errors import InvalidInput
from audioconv.domain.model import Task, TaskStatus
from audioconv.domain.options import requested_options
from audioconv.ports import Probe, ProgressCallback
from audioconv.services import conversion, notification, tasks
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.unit.fakes import Clock, FakeBlobs, FakeBus, FakeMailer, FakeTranscoder, member


def _task(deps: Dependencies, upload: Path, target: str = "opus", name: str = "Song.flac") -> Task:
    user = member(deps)
    return tasks.create_task(deps, user.id or 0, upload, name, target)


def _ref(task: Task) -> TaskRef:
    return TaskRef(task.id or 0, task.revision)


def _blobs(deps: Dependencies) -> FakeBlobs:
    return cast(FakeBlobs, deps.blobs)


def _transcoder(deps: Dependencies) -> FakeTranscoder:
    return cast(FakeTranscoder, deps.transcoder)


def _mails(deps: Dependencies) -> list[tuple[str, str, str]]:
    return cast(FakeMailer, deps.mailer).sent


def test_a_conversion_stores_its_output_under_its_own_claim(
    deps: Dependencies, upload: Path
) -> None:
    task = _task(deps, upload)
    conversion.convert(deps, _ref(task))
    key = task.output_key or ""
    token = key.split("/")[3]
    assert key == f"outputs/{task.id}/r1/{token}/Song.opus" and len(token) == 32
    assert _blobs(deps).files[key] == b"AUDIO opus " + upload.read_bytes()
    assert _blobs(deps).content_types[key] == "audio/ogg; codecs=opus"
    assert _blobs(deps).content_types[task.input_key] == "application/octet-stream"
    assert task.output_bytes == len(_blobs(deps).files[key])
    assert task.input_bytes == upload.stat().st_size
    assert task.output_probe is not None  # what the transcoder found in its output
    assert (task.output_probe.format, task.output_probe.codec) == ("opus", "opus")
    assert (task.status, task.progress, task.error, task.attempts) == (
        TaskStatus.PROCESSED, 100.0, None, 1)  # fmt: skip


def test_each_revision_is_converted_with_its_own_options(deps: Dependencies, upload: Path) -> None:
    task = _task(deps, upload, "mp3")
    conversion.convert(deps, _ref(task))
    tasks.change_format(
        deps, task.user_id, task.id or 0, "mp3", requested_options({"quality": "low"})
    )
    conversion.convert(deps, _ref(task))
    used = [job.options.as_json() for job in _transcoder(deps).jobs]
    assert used == [None, {"quality": "low"}]
    assert (task.output_key or "").split("/")[2] == "r2"


def test_a_file_gone_from_storage_fails_the_task_saying_so(
    deps: Dependencies, upload: Path
) -> None:
    task = _task(deps, upload)
    del _blobs(deps).files[task.input_key]
    conversion.convert(deps, _ref(task))
    assert (task.status, task.error) == (TaskStatus.FAILED, "the uploaded file is no longer stored")


def test_an_input_the_transcoder_refuses_fails_with_its_reason(
    deps: Dependencies, upload: Path
) -> None:
    task = _task(deps, upload)

    def refuse() -> None:
        raise InvalidInput("the audio lasts 99999 s; the limit is 21600 s")

    _transcoder(deps).during_convert = refuse
    conversion.convert(deps, _ref(task))
    assert (task.status, task.error) == (
        TaskStatus.FAILED, "the audio lasts 99999 s; the limit is 21600 s")  # fmt: skip
    assert task.output_key is None and not any(k.startswith("outputs/") for k in _blobs(deps).files)
    topics = [topic for topic, _, _ in cast(FakeBus, deps.bus).published]
    assert topics[-1] == deps.settings.finished_topic


def test_a_task_that_keeps_failing_is_given_up_saying_how_often(
    deps: Dependencies, upload: Path
) -> None:
    task = _task(deps, upload)
    _blobs(deps).fail_puts = True
    for attempt in range(1, deps.settings.max_attempts + 1):
        with pytest.raises(OSError):
            conversion.convert(deps, _ref(task))
        assert (task.status, task.attempts) == (TaskStatus.UPLOADED, attempt)
    conversion.convert(deps, _ref(task))
    assert task.status is TaskStatus.FAILED
    assert task.error == f"conversion failed {deps.settings.max_attempts} times; giving up"
    assert task.claim_token is None


def test_a_task_given_up_converts_again_when_retargeted(deps: Dependencies, upload: Path) -> None:
    """Retargeting starts afresh: the attempts the old target used up do not count."""
    task = _task(deps, upload)
    _blobs(deps).fail_puts = True
    for _ in range(deps.settings.max_attempts):
        with pytest.raises(OSError):
            conversion.convert(deps, _ref(task))
    conversion.convert(deps, _ref(task))
    assert task.status is TaskStatus.FAILED
    _blobs(deps).fail_puts = False
    tasks.change_format(deps, task.user_id, task.id or 0, "flac")
    conversion.convert(deps, _ref(task))
    assert (task.status, task.attempts, task.error) == (TaskStatus.PROCESSED, 1, None)


def test_a_failed_task_may_be_retried_with_the_same_target(
    deps: Dependencies, upload: Path
) -> None:
    task = _task(deps, upload, "ogg")
    _transcoder(deps).fail_with = "ffmpeg could not convert the file: bad frame"
    conversion.convert(deps, _ref(task))
    assert task.status is TaskStatus.FAILED
    _transcoder(deps).fail_with = None
    same = tasks.change_format(deps, task.user_id, task.id or 0, "ogg")
    assert (same.revision, same.status) == (2, TaskStatus.UPLOADED)
    conversion.convert(deps, _ref(task))
    assert task.status is TaskStatus.PROCESSED
    unchanged = tasks.change_format(deps, task.user_id, task.id or 0, "ogg")
    assert (unchanged.revision, unchanged.status) == (2, TaskStatus.PROCESSED)


def test_a_task_stored_with_an_older_probe_is_probed_again(
    deps: Dependencies, upload: Path
) -> None:
    task = _task(deps, upload)
    # As stored before the demuxer was:
    task.input_probe = Probe.from_record({"format": "mp3", "codec": "mp3"})
    conversion.convert(deps, _ref(task))
    assert _transcoder(deps).probed == ["in.mp3", "input"]  # the output is not probed again
    assert task.status is TaskStatus.PROCESSED


def test_the_stored_probe_is_what_the_worker_converts_from(
    deps: Dependencies, upload: Path
) -> None:
    task = _task(deps, upload)
    conversion.convert(deps, _ref(task))
    (job,) = _transcoder(deps).jobs
    assert job.input == Probe("mp3", "mp3", "mp3", 1.0, 128000, 44100, 2, {})
    assert job.format.name == "opus"
    assert _transcoder(deps).probed == ["in.mp3"]  # probed once, at upload


# --- the mail -----------------------------------------------------------------------------


def test_the_owner_is_told_where_to_download_the_result(deps: Dependencies, upload: Path) -> None:
    deps.settings = deps.settings.model_copy(update={"public_url": "https://audio.example/"})
    task = _task(deps, upload, "opus")
    conversion.convert(deps, _ref(task))
    notification.notify(deps, _ref(task))
    assert _mails(deps) == [(
        "ann@example.com",
        "Your file Song.flac is ready as opus",
        "Hello ann,\n\nSong.flac was converted to opus.\nDownload it (with your API token) "
        f"from:\nhttps://audio.example/api/tasks/{task.id}/converted\n",
    )]  # fmt: skip
    assert task.notified_revision == 1


def test_the_owner_is_told_why_a_conversion_failed(deps: Dependencies, upload: Path) -> None:
    task = _task(deps, upload, "wav")
    _transcoder(deps).fail_with = "ffmpeg could not convert the file: truncated"
    conversion.convert(deps, _ref(task))
    notification.notify(deps, _ref(task))
    assert _mails(deps) == [(
        "ann@example.com",
        "Your file Song.flac could not be converted",
        "Hello ann,\n\nSong.flac could not be converted to wav:\n"
        "ffmpeg could not convert the file: truncated\n",
    )]  # fmt: skip


def test_no_mail_for_work_not_finished_or_superseded(deps: Dependencies, upload: Path) -> None:
    task = _task(deps, upload, "wav")
    notification.notify(deps, _ref(task))  # not converted yet
    conversion.convert(deps, _ref(task))
    old = _ref(task)
    tasks.change_format(deps, task.user_id, task.id or 0, "flac")
    notification.notify(deps, old)  # the user asked for another format meanwhile
    notification.notify(deps, TaskRef(999, 1))  # a task deleted since
    assert _mails(deps) == [] and task.notified_revision == 0
    conversion.convert(deps, _ref(task))
    notification.notify(deps, _ref(task))
    notification.notify(deps, old)  # late, and already superseded
    assert [subject for _, subject, _ in _mails(deps)] == ["Your file Song.flac is ready as flac"]
    assert task.notified_revision == 2


def test_no_mail_for_an_account_deleted_since(deps: Dependencies, upload: Path) -> None:
    task = _task(deps, upload, "wav")
    conversion.convert(deps, _ref(task))
    with deps.uow() as uow:
        users = uow.users
    del users.rows[task.user_id]  # type: ignore[attr-defined]
    notification.notify(deps, _ref(task))
    assert _mails(deps) == []


class _ReportingTranscoder(FakeTranscoder):
    """Reports progress the way ffmpeg does, many times, with more digits than shown."""

    def __init__(self, clock: Clock, seen: list[tuple[float, object]], task: Task) -> None:
        super().__init__()
        self.clock, self.seen, self.task = clock, seen, task
        self.progress_during_convert = False

        def report() -> None:
            for percent in (12.345, 67.891):
                self.clock.advance(30)
                self.on_progress(percent)
                self.seen.append((self.task.progress, self.task.lease_expires_at))

        self.during_convert = report

    def convert(  # type: ignore[override]
        self, src: Path, job: Any, dst: Path, on_progress: ProgressCallback
    ) -> Any:
        self.on_progress = on_progress
        return super().convert(src, job, dst, on_progress)


def test_progress_is_recorded_rounded_and_extends_the_lease(
    deps: Dependencies, upload: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conversion, "PROGRESS_INTERVAL", 0.0)  # record every report
    task = _task(deps, upload)
    seen: list[tuple[float, object]] = []
    deps.transcoder = _ReportingTranscoder(cast(Clock, deps.clock), seen, task)
    start = cast(Clock, deps.clock).now
    lease = timedelta(seconds=deps.settings.lease_seconds)
    conversion.convert(deps, _ref(task))
    assert seen == [(12.3, start + timedelta(seconds=30) + lease),
                    (67.9, start + timedelta(seconds=60) + lease)]  # fmt: skip
    assert (task.status, task.progress) == (TaskStatus.PROCESSED, 100.0)


def test_the_worker_refuses_an_output_that_no_longer_fits_saying_why(
    deps: Dependencies, upload: Path
) -> None:
    task = _task(deps, upload, target="wav")
    # The limit was lowered since the upload was accepted: 1 s of 44.1 kHz stereo wav
    # (the fake's audio) may take about 244 kB.
    deps.settings = deps.settings.model_copy(update={"max_output_bytes": 100_000})
    clock = cast(Clock, deps.clock)
    clock.advance(5)
    conversion.convert(deps, _ref(task))
    assert task.status is TaskStatus.FAILED and task.updated_at == clock.now
    assert task.error is not None and task.error.startswith("a 1 s input as wav at 44100 Hz")
    assert _transcoder(deps).jobs == []  # refused before converting anything
