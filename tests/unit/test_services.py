"""The services on fakes of every port: the state machine, idempotency and recovery."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from audioconv.config import Settings
from audioconv.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    RetryLater,
    Unauthorized,
    UnsupportedMedia,
)
from audioconv.domain.model import ClaimOutcome, Task, TaskStatus, utcnow
from audioconv.domain.options import requested_options
from audioconv.services import auth, conversion, notification, recovery, report, tasks
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.unit.fakes import (
    Clock,
    FakeMailer,
    FakeTranscoder,
    blobs,
    bus,
    fake_deps,
    user_id,
)


def clock(deps: Dependencies) -> Clock:
    return cast(Clock, deps.clock)


def last_ref(deps: Dependencies) -> TaskRef:
    return TaskRef.from_message(bus(deps).published[-1][1])


def test_tokens_round_trip_and_expire(deps: Dependencies) -> None:
    uid = user_id(deps)
    user = auth.login(deps, "ann", "password1")
    clock(deps).now = utcnow()  # PyJWT checks expiry against the real clock
    token = auth.issue_token(deps, user)
    assert auth.authenticate(deps, f"Bearer {token}") == uid
    clock(deps).now = utcnow() - timedelta(seconds=deps.settings.token_ttl_seconds + 1)
    old = auth.issue_token(deps, user)
    with pytest.raises(Unauthorized, match="expired"):
        auth.authenticate(deps, f"Bearer {old}")
    with pytest.raises(Unauthorized, match="missing"):
        auth.authenticate(deps, None)


def test_login_rejects_unknown_user_and_wrong_password_alike(deps: Dependencies) -> None:
    user_id(deps)
    with pytest.raises(Unauthorized) as unknown:
        auth.login(deps, "nobody", "password1")
    with pytest.raises(Unauthorized) as wrong:
        auth.login(deps, "ann", "wrong-password")
    assert unknown.value.message == wrong.value.message


def test_signup_conflict(deps: Dependencies) -> None:
    user_id(deps)
    with pytest.raises(Conflict):
        auth.signup(deps, "ann", "other@example.com", "password1", "password1")


def test_create_task_stores_then_publishes(deps: Dependencies, upload: Path) -> None:
    task = tasks.create_task(deps, user_id(deps), upload, "../../etc/My Song.mp3", "WAV")
    assert task.status is TaskStatus.UPLOADED
    assert (task.file_name, task.output_format, task.output_name) == (
        "My Song.mp3", "wav", "My Song.wav")  # fmt: skip
    assert blobs(deps).files[task.input_key] == upload.read_bytes()
    assert bus(deps).published == [
        (deps.settings.conversion_topic,
         {"taskId": task.id, "revision": 1},
         {"taskId": str(task.id), "revision": "1", "userId": str(task.user_id)}),
    ]  # fmt: skip


def test_create_task_refuses_non_audio_and_stores_nothing(
    deps: Dependencies, tmp_path: Path
) -> None:
    text = tmp_path / "x.mp3"
    text.write_bytes(b"not audio")
    with pytest.raises(UnsupportedMedia):
        tasks.create_task(deps, user_id(deps), text, "x.mp3", "wav")
    with pytest.raises(InvalidInput, match="unknown format"):
        tasks.create_task(deps, user_id(deps, "bo"), text, "x.mp3", "exe")
    assert blobs(deps).files == {} and bus(deps).published == []


def test_publish_failure_leaves_task_due_for_the_sweep(deps: Dependencies, upload: Path) -> None:
    bus(deps).down = True
    task = tasks.create_task(deps, user_id(deps), upload, "a.mp3", "ogg")
    assert task.status is TaskStatus.UPLOADED
    bus(deps).down = False
    assert recovery.sweep(deps).conversions == 0  # within the grace period
    clock(deps).advance(120)
    assert recovery.sweep(deps).conversions == 1
    assert last_ref(deps) == TaskRef(task.id or 0, 1)


def test_conversion_happy_path_and_duplicate_delivery(deps: Dependencies, upload: Path) -> None:
    task = tasks.create_task(deps, user_id(deps), upload, "a.mp3", "ogg")
    ref = last_ref(deps)
    conversion.convert(deps, ref)
    assert task.status is TaskStatus.PROCESSED
    assert task.output_key and blobs(deps).files[task.output_key].startswith(b"AUDIO ogg")
    settings = deps.settings
    assert bus(deps).topics() == [
        settings.conversion_topic,
        settings.finished_topic,
        settings.report_topic,
    ]
    conversion.convert(deps, ref)  # at-least-once: the repeat changes nothing
    assert bus(deps).topics().count(deps.settings.finished_topic) == 1
    assert bus(deps).topics().count(deps.settings.report_topic) == 1
    assert task.attempts == 1


def test_stale_revision_is_ignored_and_old_output_deleted_once_replaced(
    deps: Dependencies, upload: Path
) -> None:
    uid = user_id(deps)
    task = tasks.create_task(deps, uid, upload, "a.mp3", "ogg")
    first = last_ref(deps)
    conversion.convert(deps, first)
    old_output = task.output_key
    tasks.change_format(deps, uid, task.id or 0, "flac")
    assert old_output in blobs(deps).files and task.kept_output_key == old_output
    assert (task.revision, task.status) == (2, TaskStatus.UPLOADED)
    conversion.convert(deps, first)  # a late copy of the old request
    assert task.status is TaskStatus.UPLOADED
    conversion.convert(deps, last_ref(deps))
    assert (task.status, task.output_format) == (TaskStatus.PROCESSED, "flac")
    assert old_output not in blobs(deps).files and task.kept_output_key is None


def test_busy_task_is_redelivered_and_expired_lease_taken_over(
    deps: Dependencies, upload: Path
) -> None:
    task = tasks.create_task(deps, user_id(deps), upload, "a.mp3", "ogg")
    ref = last_ref(deps)
    task.claim(ref.revision, clock(deps).now, timedelta(seconds=60))
    clock(deps).advance(20)
    with pytest.raises(RetryLater) as busy:
        conversion.convert(deps, ref)
    # Due again just after the other worker's lease ends, not after a blind back-off.
    assert busy.value.after_seconds == 40 + conversion.BUSY_MARGIN_SECONDS
    clock(deps).advance(41)  # the other worker died: its lease ran out
    conversion.convert(deps, ref)
    assert task.status is TaskStatus.PROCESSED


def test_worker_that_lost_its_lease_stops_and_changes_nothing(
    deps: Dependencies, upload: Path
) -> None:
    """Worker A's lease runs out mid-conversion and B takes over: A must not touch B's attempt."""
    task = tasks.create_task(deps, user_id(deps), upload, "a.mp3", "ogg")
    ref = last_ref(deps)
    fake = cast(FakeTranscoder, deps.transcoder)

    def takeover() -> None:  # while A converts, its lease expires and B claims the task
        clock(deps).advance(deps.settings.lease_seconds + 1)
        assert task.claim(ref.revision, clock(deps).now, timedelta(seconds=60)) is ClaimOutcome.RUN

    fake.during_convert = takeover
    conversion.convert(deps, ref)  # A: its progress heartbeat finds B's attempt and stops
    assert (task.status, task.attempts) == (TaskStatus.PROCESSING, 2)
    assert task.output_key is None
    assert not any(k.startswith("outputs/") for k in blobs(deps).files)
    assert deps.settings.finished_topic not in bus(deps).topics()


def test_late_failure_of_a_superseded_attempt_does_not_overwrite_success(
    deps: Dependencies, upload: Path
) -> None:
    task = tasks.create_task(deps, user_id(deps), upload, "a.mp3", "ogg")
    ref = last_ref(deps)
    fake = cast(FakeTranscoder, deps.transcoder)

    def takeover_and_finish() -> None:  # B takes over and finishes while A is still running
        clock(deps).advance(deps.settings.lease_seconds + 1)
        fake.during_convert = None
        conversion.convert(deps, ref)
        assert task.status is TaskStatus.PROCESSED
        fake.fail_with = "A's ffmpeg fails late"

    fake.progress_during_convert = False  # A reports no progress: it only finds out at the end
    fake.during_convert = takeover_and_finish
    conversion.convert(deps, ref)
    assert task.status is TaskStatus.PROCESSED and task.error is None
    assert task.output_key in blobs(deps).files


def test_bad_input_fails_with_reason_and_is_announced(deps: Dependencies, upload: Path) -> None:
    task = tasks.create_task(deps, user_id(deps), upload, "a.mp3", "ogg")
    cast(FakeTranscoder, deps.transcoder).fail_with = "ffmpeg could not convert the file: boom"
    conversion.convert(deps, last_ref(deps))
    assert task.status is TaskStatus.FAILED
    assert task.error == "ffmpeg could not convert the file: boom"
    assert bus(deps).topics()[-1] == deps.settings.finished_topic


def test_transient_failure_releases_task_for_retry(deps: Dependencies, upload: Path) -> None:
    task = tasks.create_task(deps, user_id(deps), upload, "a.mp3", "ogg")
    blobs(deps).fail_puts = True
    with pytest.raises(OSError):
        conversion.convert(deps, last_ref(deps))
    assert task.status is TaskStatus.UPLOADED  # not failed, not stuck in processing
    blobs(deps).fail_puts = False
    conversion.convert(deps, last_ref(deps))
    assert task.status is TaskStatus.PROCESSED


def test_gives_up_after_max_attempts(deps: Dependencies, upload: Path) -> None:
    task = tasks.create_task(deps, user_id(deps), upload, "a.mp3", "ogg")
    blobs(deps).fail_puts = True
    for _ in range(deps.settings.max_attempts):
        with pytest.raises(OSError):
            conversion.convert(deps, last_ref(deps))
    conversion.convert(deps, last_ref(deps))
    assert task.status is TaskStatus.FAILED
    assert "giving up" in (task.error or "")


def test_deleted_task_request_is_dropped(deps: Dependencies, upload: Path) -> None:
    uid = user_id(deps)
    task = tasks.create_task(deps, uid, upload, "a.mp3", "ogg")
    tasks.delete_task(deps, uid, task.id or 0)
    assert blobs(deps).files == {}
    conversion.convert(deps, last_ref(deps))  # acknowledged, nothing happens
    with pytest.raises(NotFound):
        tasks.get_task(deps, uid, task.id or 0)


def test_notify_once_per_revision(deps: Dependencies, upload: Path) -> None:
    task = tasks.create_task(deps, user_id(deps), upload, "a.mp3", "ogg")
    conversion.convert(deps, last_ref(deps))
    ref = last_ref(deps)
    notification.notify(deps, ref)
    notification.notify(deps, ref)
    sent = cast(FakeMailer, deps.mailer).sent
    assert len(sent) == 1
    to, subject, body = sent[0]
    assert to == "ann@example.com" and "ready as ogg" in subject
    assert f"/api/tasks/{task.id}/converted" in body
    assert task.notified_revision == 1


def test_sweep_after_crash_reclaims_processing_and_unsent_mail(
    deps: Dependencies, upload: Path
) -> None:
    first = tasks.create_task(deps, user_id(deps), upload, "a.mp3", "ogg")
    second = tasks.create_task(deps, first.user_id, upload, "b.mp3", "wav")
    conversion.convert(deps, TaskRef(second.id or 0, 1))  # processed, mail not yet sent
    first.claim(1, clock(deps).now, timedelta(seconds=600))
    bus(deps).published.clear()
    result = recovery.sweep(deps, reclaim=True)
    assert (result.conversions, result.notifications, result.reports) == (1, 1, 1)
    assert first.status is TaskStatus.UPLOADED
    assert first.attempts == 0  # the server died, not the file: not counted as an attempt
    published: list[tuple[str, Any, Any]] = bus(deps).published
    assert {(t, d["taskId"]) for t, d, _ in published} == {
        (deps.settings.conversion_topic, first.id),
        (deps.settings.finished_topic, second.id),
        (deps.settings.report_topic, second.id),
    }


def test_task_output_name() -> None:
    task = Task(user_id=1, file_name="a.b.flac", input_format="flac", output_format="m4a",
                input_key="k")  # fmt: skip
    assert task.output_name == "a.b.m4a"


def test_collect_garbage_removes_only_what_no_task_refers_to(
    deps: Dependencies, upload: Path
) -> None:
    task = tasks.create_task(deps, user_id(deps), upload, "a.mp3", "ogg")
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    report.run_report(deps, TaskRef(task.id or 0, 1))
    store, waiting = blobs(deps), f"direct-uploads/1/{'a' * 32}/mp3/w.wav"
    orphans = ["uploads/x/orphan.mp3", "outputs/9/r1/t/o.ogg", "outputs/1/r1/.part-123"]
    store.files.update(dict.fromkeys([*orphans, waiting], b""))
    assert recovery.collect_garbage(deps) == 3
    assert set(store.files) == {task.input_key, task.output_key, task.waveform_key, waiting}


def test_reclaim_turns_an_unannounced_direct_upload_into_its_task(
    deps: Dependencies, upload: Path
) -> None:
    owner = user_id(deps)
    key = f"direct-uploads/{owner}/{'b' * 32}/ogg/w.mp3"
    blobs(deps).files[key] = upload.read_bytes()  # stored; its finalize event died with us
    recovery.sweep(deps, reclaim=True)
    (made,) = tasks.list_tasks(deps, owner, None, descending=False)
    assert (made.input_key, made.status, made.output_format) == (key, TaskStatus.UPLOADED, "ogg")


def test_each_file_is_probed_once(deps: Dependencies, upload: Path) -> None:
    """The upload's probe is stored with the task; the worker converts from it."""
    task = tasks.create_task(deps, user_id(deps), upload, "a.mp3", "ogg")
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    transcoder = cast(FakeTranscoder, deps.transcoder)
    assert transcoder.probed == ["in.mp3"]  # the input once; the output is never probed
    assert task.status is TaskStatus.PROCESSED


def test_the_worker_hands_the_transcoder_one_job_of_objects(
    deps: Dependencies, upload: Path
) -> None:
    """The stored probe, the format looked up once and the options as one object."""
    options = {"bitrate": "160k", "loudness": "-16", "truePeak": -2, "fadeIn": "0.25"}
    task = tasks.create_task(
        deps, user_id(deps), upload, "a.mp3", "ogg", requested_options(options or {})
    )
    assert task.options.as_json() == {
        "bitrate": 160,
        "loudness": -16.0,
        "truePeak": -2.0,
        "fadeIn": 0.25,
    }
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    (job,) = cast(FakeTranscoder, deps.transcoder).jobs
    assert job.format.name == "ogg" and job.format.codec == "libvorbis"
    assert (job.options.bitrate, job.options.loudness, job.options.ceiling) == (160, -16.0, -2.0)
    assert job.input.demuxer == "mp3" and job.input.duration == 1.0


def test_measured_loudness_and_waveform_are_kept_and_go_with_the_task(
    deps: Dependencies, upload: Path
) -> None:
    owner = user_id(deps)
    task = tasks.create_task(deps, owner, upload, "a.mp3", "ogg")
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    report.run_report(deps, TaskRef(task.id or 0, 1))
    done = tasks.get_task(deps, owner, task.id or 0)
    assert done.input_probe and done.input_probe.as_dict()["loudness"] == {
        "integrated": -23.0, "range": 6.0, "truePeak": -4.0,
    }  # fmt: skip
    assert done.output_probe and done.output_probe.as_dict()["loudness"]["integrated"] == -16.0
    picture = tasks.task_waveform(deps, owner, task.id or 0)
    assert (picture.mime_type, picture.name) == ("image/png", "a-waveform.png")
    assert blobs(deps).files[picture.key].startswith(b"PNG of AUDIO")
    with pytest.raises(NotFound):
        tasks.task_waveform(deps, user_id(deps, "bob"), task.id or 0)  # owner only
    tasks.change_format(deps, owner, task.id or 0, "flac")  # the old picture goes
    assert picture.key not in blobs(deps).files
    with pytest.raises(NotFound, match="no waveform"):
        tasks.task_waveform(deps, owner, task.id or 0)
    conversion.convert(deps, last_ref(deps))
    report.run_report(deps, last_ref(deps))
    again = tasks.task_waveform(deps, owner, task.id or 0)
    tasks.delete_task(deps, owner, task.id or 0)
    assert again.key not in blobs(deps).files and not blobs(deps).files


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"start": "2"}, r"start \(2 s\) is not before the audio's end \(1 s\)"),
        ({"end": "3"}, r"end \(3 s\) is past the audio's end \(1 s\)"),
        ({"start": 0.5, "fadeIn": 0.4, "fadeOut": 0.4}, "must fit in the 0.5 s converted"),
        ({"start": 0.5, "end": 0.5}, r"end \(0.5 s\) must come after start"),
        ({"truePeak": -1}, "give loudness too"),
    ],
)
def test_trims_and_fades_must_fit_the_input(
    deps: Dependencies, upload: Path, options: dict[str, Any], reason: str
) -> None:
    owner = user_id(deps)
    chosen = requested_options(options)  # each within its bounds; together they are not
    with pytest.raises(InvalidInput, match=reason):
        tasks.create_task(deps, owner, upload, "a.mp3", "ogg", chosen)
    assert not blobs(deps).files  # nothing stored for a refused upload
    task = tasks.create_task(deps, owner, upload, "a.mp3", "ogg")
    with pytest.raises(InvalidInput, match=reason):
        tasks.change_format(deps, owner, task.id or 0, "ogg", chosen)


def test_conversions_keep_their_files_in_the_work_folder_and_leave_none(
    tmp_path: Path, upload: Path
) -> None:
    scratch = tmp_path / "scratch"
    deps = fake_deps(tmp_path)
    deps.settings = Settings(data_dir=tmp_path / "data", work_dir=scratch,
                             secret_key=deps.settings.secret_key)  # fmt: skip
    seen: list[list[Path]] = []
    transcoder = cast(FakeTranscoder, deps.transcoder)
    transcoder.during_convert = lambda: seen.append(list(scratch.iterdir()))
    task = tasks.create_task(deps, user_id(deps), upload, "a.mp3", "ogg")
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    (folders,) = seen
    assert [folder.name.startswith(conversion.WORK_PREFIX) for folder in folders] == [True]
    assert list(scratch.iterdir()) == []
    assert Settings(data_dir=tmp_path).resolved_work_dir == tmp_path / "work"
