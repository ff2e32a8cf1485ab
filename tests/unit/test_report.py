"""The report pass on fakes (services/report.py): it follows the conversion, records
what it measured on the revision and output it measured only, once, and leaves
nothing behind when the task moved on."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import cast

import pytest

from audioconv import logs
from audioconv.domain.errors import NotFound, RetryLater, UnsupportedMedia
from audioconv.domain.job import MediaReport
from audioconv.domain.media import Probe
from audioconv.domain.model import Task, TaskStatus
from audioconv.domain.options import requested_options
from audioconv.services import conversion, recovery, report, tasks
from audioconv.services.conversion import WORK_PREFIX
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.unit.fakes import (
    Clock,
    FakeTasks,
    FakeTranscoder,
    FakeUnitOfWork,
    blobs,
    bus,
    user_id,
)


def _transcoder(deps: Dependencies) -> FakeTranscoder:
    return cast(FakeTranscoder, deps.transcoder)


def _converted(deps: Dependencies, upload: Path) -> tuple[int, Task, TaskRef]:
    """A task converted to ogg, its report request the last message published."""
    owner = user_id(deps)
    task = tasks.create_task(deps, owner, upload, "a.mp3", "ogg")
    ref = TaskRef(task.id or 0, 1)
    conversion.convert(deps, ref)
    return owner, task, ref


def _waveforms(deps: Dependencies) -> list[str]:
    return [key for key in blobs(deps).files if key.endswith("waveform.png")]


def test_a_conversion_is_processed_and_announced_before_its_report(
    deps: Dependencies, upload: Path
) -> None:
    owner, task, ref = _converted(deps, upload)
    assert (task.status, task.report_due, task.waveform_key) == (TaskStatus.PROCESSED, True, None)
    assert task.output_probe and task.output_probe.as_dict()["loudness"] is None
    assert _transcoder(deps).reports == []  # not run by the conversion
    settings = deps.settings
    assert [(t, d) for t, d, _ in bus(deps).published][-2:] == [
        (settings.finished_topic, ref.as_message()),
        (settings.report_topic, ref.as_message()),
    ]
    shown = tasks.get_task(deps, owner, ref.task_id)
    assert shown.report_due
    with pytest.raises(NotFound, match="no waveform"):
        tasks.task_waveform(deps, owner, ref.task_id)


def test_the_report_records_loudness_exact_length_and_waveform(
    deps: Dependencies, upload: Path
) -> None:
    owner, task, ref = _converted(deps, upload)
    output, finished = task.output_probe, task.updated_at
    assert output is not None
    cast(Clock, deps.clock).advance(5)
    report.run_report(deps, ref)
    assert task.updated_at == finished  # still when it finished (its events say so)
    (ran,) = _transcoder(deps).reports
    assert ran == (upload.read_bytes(), blobs(deps).files[task.output_key or ""])
    assert task.report_due is False
    assert task.input_probe and task.input_probe.as_dict()["loudness"] == {
        "integrated": -23.0, "range": 6.0, "truePeak": -4.0,
    }  # fmt: skip
    assert task.output_probe and task.output_probe.as_dict()["loudness"] == {
        "integrated": -16.0, "range": 4.0, "truePeak": -1.5,
    }  # fmt: skip
    assert task.output_probe.duration == output.duration + 0.5  # the exact count
    assert task.output_probe.bitrate == round(task.output_bytes * 8 / 1.5)
    picture = tasks.task_waveform(deps, owner, ref.task_id)
    assert picture.key == f"{(task.output_key or '').rpartition('/')[0]}/waveform.png"
    assert blobs(deps).files[picture.key].startswith(b"PNG of AUDIO")
    assert blobs(deps).content_types[picture.key] == "image/png"
    tasks.delete_task(deps, owner, ref.task_id)
    assert not blobs(deps).files  # the picture goes with the task


def test_a_repeated_request_runs_nothing_again(deps: Dependencies, upload: Path) -> None:
    _, task, ref = _converted(deps, upload)
    report.run_report(deps, ref)
    recorded = (task.input_probe, task.output_probe, task.waveform_key)
    report.run_report(deps, ref)
    assert len(_transcoder(deps).reports) == 1
    assert (task.input_probe, task.output_probe, task.waveform_key) == recorded
    assert _waveforms(deps) == [task.waveform_key]


def test_a_request_for_an_older_revision_is_dropped(deps: Dependencies, upload: Path) -> None:
    owner, task, ref = _converted(deps, upload)
    tasks.change_format(deps, owner, ref.task_id, "flac")
    conversion.convert(deps, TaskRef(ref.task_id, 2))
    report.run_report(deps, ref)  # r1's request, late
    assert _transcoder(deps).reports == []
    assert (task.report_due, task.waveform_key) == (True, None)
    report.run_report(deps, TaskRef(ref.task_id, 2))
    assert task.report_due is False and task.waveform_key is not None
    assert "/r2/" in task.waveform_key


def test_a_retarget_during_the_report_wins(deps: Dependencies, upload: Path) -> None:
    owner, task, ref = _converted(deps, upload)
    transcoder = _transcoder(deps)
    transcoder.during_report = lambda: tasks.change_format(deps, owner, ref.task_id, "flac")
    report.run_report(deps, ref)
    assert (task.revision, task.status, task.waveform_key) == (2, TaskStatus.UPLOADED, None)
    assert task.output_probe is None and task.report_due is False
    assert _waveforms(deps) == []  # the picture it stored for nothing is gone


def test_a_new_output_of_the_same_revision_is_not_given_the_old_ones_report(
    deps: Dependencies, upload: Path
) -> None:
    """Same revision, another output (another claim's folder): the report measured the
    old file, so it records nothing and its picture goes."""
    _, task, ref = _converted(deps, upload)

    def converted_again() -> None:
        task.output_key = f"outputs/{ref.task_id}/r1/other/a.ogg"
        blobs(deps).files[task.output_key] = b"AUDIO other"

    _transcoder(deps).during_report = converted_again
    report.run_report(deps, ref)
    assert task.report_due is True and task.waveform_key is None
    assert task.output_probe and task.output_probe.as_dict()["loudness"] is None
    assert _waveforms(deps) == []


def test_a_task_deleted_during_its_report_leaves_nothing(deps: Dependencies, upload: Path) -> None:
    owner, _, ref = _converted(deps, upload)
    _transcoder(deps).during_report = lambda: tasks.delete_task(deps, owner, ref.task_id)
    report.run_report(deps, ref)
    assert not blobs(deps).files


def test_a_task_deleted_before_its_report_is_skipped(deps: Dependencies, upload: Path) -> None:
    owner, _, ref = _converted(deps, upload)
    tasks.delete_task(deps, owner, ref.task_id)
    report.run_report(deps, ref)
    assert _transcoder(deps).reports == [] and not blobs(deps).files


def test_a_failed_report_ends_with_nothing_measured(deps: Dependencies, upload: Path) -> None:
    """A bad ffmpeg run is not retried: the task stays processed without figures."""
    _, task, ref = _converted(deps, upload)
    duration = task.output_probe.duration
    _transcoder(deps).fail_report_with = "ffmpeg could not read the output"
    report.run_report(deps, ref)
    assert (task.status, task.report_due, task.waveform_key) == (TaskStatus.PROCESSED, False, None)
    assert task.output_probe and task.output_probe.as_dict()["loudness"] is None
    assert task.output_probe.duration == duration
    assert _waveforms(deps) == []
    bus(deps).published.clear()
    cast(Clock, deps.clock).advance(3600)
    assert recovery.sweep(deps).reports == 0  # nothing left to ask for


def test_storage_down_is_raised_for_a_retry(deps: Dependencies, upload: Path) -> None:
    _, task, ref = _converted(deps, upload)
    blobs(deps).fail_puts = True
    with pytest.raises(OSError, match="storage is down"):
        report.run_report(deps, ref)
    assert task.report_due is True  # still due: the redelivery (or the sweep) runs it
    blobs(deps).fail_puts = False
    report.run_report(deps, ref)
    assert task.report_due is False and task.waveform_key is not None


def test_shutting_down_during_the_report_leaves_it_due(deps: Dependencies, upload: Path) -> None:
    _, task, ref = _converted(deps, upload)

    def stopped() -> None:
        raise RetryLater("shutting down")

    _transcoder(deps).during_report = stopped
    with pytest.raises(RetryLater):
        report.run_report(deps, ref)
    assert task.report_due is True and _waveforms(deps) == []


def test_no_report_is_asked_for_when_the_report_pass_is_off(
    deps: Dependencies, upload: Path
) -> None:
    deps.settings.report_pass = False
    _, task, ref = _converted(deps, upload)
    assert task.status is TaskStatus.PROCESSED and task.report_due is False
    assert deps.settings.report_topic not in bus(deps).topics()
    report.run_report(deps, ref)
    assert _transcoder(deps).reports == []


def test_the_sweep_asks_again_for_a_report_still_due(deps: Dependencies, upload: Path) -> None:
    _, task, ref = _converted(deps, upload)
    task.notified_revision = task.revision  # its announcement went out
    bus(deps).published.clear()
    clock = cast(Clock, deps.clock)
    clock.advance(59)
    assert recovery.sweep(deps, grace_seconds=60).reports == 0  # its own message is on the way
    clock.advance(1)
    assert recovery.sweep(deps, grace_seconds=60) == recovery.SweepResult(0, 0, 1)
    assert [(t, d) for t, d, _ in bus(deps).published] == [
        (deps.settings.report_topic, ref.as_message())
    ]
    report.run_report(deps, ref)
    clock.advance(3600)
    assert recovery.sweep(deps, reclaim=True).reports == 0


def _measured_with(deps: Dependencies) -> list[tuple[Probe, float]]:
    """The input probe and output length each report run is given."""
    transcoder = _transcoder(deps)
    measure = transcoder.report
    given: list[tuple[Probe, float]] = []

    def recording(
        src: Path, source: Probe, dst: Path, seconds: float, png: Path, once: bool = False
    ) -> MediaReport:
        given.append((source, seconds))
        return measure(src, source, dst, seconds, png, once)

    transcoder.report = recording  # type: ignore[method-assign]
    return given


def test_the_report_measures_against_the_stored_input_probe_and_the_encoders_length(
    deps: Dependencies, upload: Path
) -> None:
    """A 3 s input trimmed to 1 s: the report is told the output's own length (not the
    input's), and reuses the input's stored probe rather than running ffprobe again."""
    _, task, ref = _converted(deps, upload)
    assert task.input_probe and task.output_probe
    task.input_probe = replace(task.input_probe, duration=3.0)
    probed = list(_transcoder(deps).probed)
    given = _measured_with(deps)
    report.run_report(deps, ref)
    ((source, seconds),) = given
    assert (source.duration, source.format, seconds) == (3.0, "mp3", 1.0)
    assert _transcoder(deps).probed == probed  # no second probe of the input
    assert task.output_probe.duration == 1.5  # the encoder's 1 s, counted exactly


def test_an_input_without_a_whole_stored_probe_is_probed_without_the_upload_limits(
    deps: Dependencies, upload: Path
) -> None:
    """A task recorded before whole probes were stored: the report probes its input
    itself, and an input already accepted is not refused by the upload limits now."""
    _, task, ref = _converted(deps, upload)
    task.input_probe = Probe.from_record({"duration": 1.0})  # an older, partial record
    transcoder = _transcoder(deps)
    probe = transcoder.probe

    def limited(path: Path, limits: bool = True) -> Probe:
        if limits:
            raise UnsupportedMedia("longer than uploads may be (fake)")
        return probe(path, limits)

    transcoder.probe = limited  # type: ignore[method-assign]
    given = _measured_with(deps)
    report.run_report(deps, ref)
    ((source, _),) = given
    assert source.format == "mp3" and transcoder.probed[-1:] == ["input"]
    assert task.report_due is False and task.waveform_key is not None
    assert task.output_probe and task.output_probe.as_dict()["loudness"] is not None


def test_two_deliveries_of_one_report_running_at_once_keep_its_picture(
    deps: Dependencies, upload: Path
) -> None:
    """At-least-once delivery: a second copy of the request runs and records first; the
    first copy then finds the report done, with the very picture it stored, and keeps it."""
    _, task, ref = _converted(deps, upload)
    transcoder = _transcoder(deps)

    def the_other_copy() -> None:
        transcoder.during_report = None
        report.run_report(deps, ref)

    transcoder.during_report = the_other_copy
    report.run_report(deps, ref)
    assert len(transcoder.reports) == 2
    assert task.report_due is False and task.waveform_key is not None
    assert _waveforms(deps) == [task.waveform_key]
    assert tasks.task_waveform(deps, task.user_id, ref.task_id).key == task.waveform_key


def test_a_request_with_no_report_due_is_dropped_while_another_process_writes(
    deps: Dependencies, upload: Path
) -> None:
    """Finding out that nothing is due only reads: it needs no write lock."""
    _, _, ref = _converted(deps, upload)
    report.run_report(deps, ref)
    cast(FakeUnitOfWork, deps.uow()).busy = True
    report.run_report(deps, ref)  # the repeated request: dropped, not "database is locked"
    assert len(_transcoder(deps).reports) == 1


def test_the_record_locks_the_task_before_checking_it(deps: Dependencies, upload: Path) -> None:
    """The check that the task still awaits this report and the write that records it are
    one locked step, so a retarget in another process cannot slip between them."""
    _, _, ref = _converted(deps, upload)
    rows = cast(FakeTasks, cast(FakeUnitOfWork, deps.uow()).tasks)
    get = rows.get
    locked: list[bool] = []

    def get_recording(task_id: int, *, for_update: bool = False) -> Task | None:
        locked.append(for_update)
        return get(task_id, for_update=for_update)

    rows.get = get_recording  # type: ignore[method-assign]
    report.run_report(deps, ref)
    assert locked[-1] is True


def test_the_reports_scratch_files_go_where_the_start_up_clears_leftovers(
    deps: Dependencies, upload: Path, tmp_path: Path
) -> None:
    """In a folder of its own in the work folder (made, parents and all, if missing),
    named as the start-up's clean-up of a killed run looks for; gone afterwards."""
    _, task, ref = _converted(deps, upload)
    work = tmp_path / "not" / "yet" / "work"
    deps = replace(deps, settings=deps.settings.model_copy(update={"work_dir": work}))
    seen: list[list[Path]] = []
    _transcoder(deps).during_report = lambda: seen.append(list(work.glob(f"{WORK_PREFIX}*")))
    report.run_report(deps, ref)
    ((folder,),) = seen
    assert task.report_due is False and task.waveform_key is not None
    assert not folder.exists() and list(work.iterdir()) == []


def test_what_the_report_logs_carries_the_tasks_user(deps: Dependencies, upload: Path) -> None:
    owner, _, ref = _converted(deps, upload)
    users: list[object] = []
    _transcoder(deps).during_report = lambda: users.append(logs.current().get("user_id"))
    with logs.bound():
        report.run_report(deps, ref)
    assert users == [owner]


def _said(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == report.__name__]


def test_a_report_not_run_or_not_recorded_says_why(
    deps: Dependencies, upload: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What an operator reads when a report request is dropped, finds its files gone,
    fails in ffmpeg, or is outrun by a retarget or a deletion."""
    caplog.set_level(logging.INFO, logger=report.__name__)
    owner, task, ref = _converted(deps, upload)
    n = ref.task_id
    transcoder = _transcoder(deps)
    transcoder.fail_report_with = "ffmpeg could not read the output"
    report.run_report(deps, ref)
    report.run_report(deps, ref)
    transcoder.fail_report_with = None
    tasks.change_format(deps, owner, n, "flac")
    conversion.convert(deps, TaskRef(n, 2))
    del blobs(deps).files[task.input_key]
    report.run_report(deps, TaskRef(n, 2))
    blobs(deps).files[task.input_key] = upload.read_bytes()
    tasks.change_format(deps, owner, n, "wav")
    conversion.convert(deps, TaskRef(n, 3))
    assert task.report_due is True
    transcoder.during_report = lambda: tasks.change_format(deps, owner, n, "flac")
    report.run_report(deps, TaskRef(n, 3))
    conversion.convert(deps, TaskRef(n, 4))
    transcoder.during_report = lambda: tasks.delete_task(deps, owner, n)
    report.run_report(deps, TaskRef(n, 4))
    assert _said(caplog) == [
        (logging.WARNING, f"task {n}: no loudness or waveform: ffmpeg could not read the output"),
        (logging.INFO, f"task {n} r1 has no report due; request dropped"),
        (logging.INFO, f"task {n}: its files are gone; no report"),
        (logging.INFO, f"task {n} moved on during its report; report discarded"),
        (logging.INFO, f"task {n} was deleted during its report; report discarded"),
    ]


@pytest.mark.parametrize(
    ("target", "options", "channels", "once"),
    [
        ("wav", {}, 2, True),  # lossless, nothing changed: the input's samples
        ("mp3", {}, 2, True),  # mp3 to mp3: a stream copy
        ("mp3", {"bitrate": 128}, 2, False),  # mp3 to mp3 at another bitrate: encoded
        ("ogg", {}, 2, False),  # lossy: the output must be decoded
        ("wav", {"fadeIn": 1.0}, 2, False),  # filtered
        ("wav", {}, 6, False),  # 6 channels in, fewer out: another signal
    ],
)
def test_an_output_with_the_inputs_samples_is_not_decoded_again(
    deps: Dependencies,
    upload: Path,
    target: str,
    options: dict[str, object],
    channels: int,
    once: bool,
) -> None:
    _transcoder(deps).channels = channels
    task = tasks.create_task(
        deps, user_id(deps), upload, "a.mp3", target, requested_options(options or {})
    )
    ref = TaskRef(task.id or 0, 1)
    conversion.convert(deps, ref)
    report.run_report(deps, ref)
    assert _transcoder(deps).decoded_once == [once]


def test_the_database_says_who_converts_and_who_waits(deps: Dependencies, upload: Path) -> None:
    """What the pull worker's fair share reads (services/slots.py)."""
    from audioconv.services.slots import conversions_by_owner

    owner = user_id(deps)
    assert conversions_by_owner(deps) == ({}, set())
    tasks.create_task(deps, owner, upload, "a.mp3", "ogg")
    # A read: it runs while another process holds the database's write lock.
    cast(FakeUnitOfWork, deps.uow()).busy = True
    assert conversions_by_owner(deps) == ({}, {owner})
