"""The sweep on fakes: what an ordinary sweep republishes, and what only the start-up
reclaim may take back."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest

from audioconv.domain.model import ClaimOutcome, Task, TaskStatus
from audioconv.domain.options import requested_options
from audioconv.services import conversion, recovery, report, tasks
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.unit.fakes import Clock, FakeBlobs, FakeBus, FakeTranscoder, member

GRACE = 60


def _clock(deps: Dependencies) -> Clock:
    return cast(Clock, deps.clock)


def _bus(deps: Dependencies) -> FakeBus:
    return cast(FakeBus, deps.bus)


def _lease(deps: Dependencies) -> timedelta:
    return timedelta(seconds=deps.settings.lease_seconds)


def _new_task(deps: Dependencies, upload: Path, name: str = "a.mp3") -> Task:
    user = member(deps)
    assert user.id is not None
    task = tasks.create_task(deps, user.id, upload, name, "ogg")
    _bus(deps).published.clear()
    return task


def _republished(deps: Dependencies) -> list[tuple[str, TaskRef]]:
    return [(topic, TaskRef.from_message(data)) for topic, data, _ in _bus(deps).published]


def test_an_ordinary_sweep_leaves_a_task_under_a_live_lease_alone(
    deps: Dependencies, upload: Path
) -> None:
    """A worker is converting it (its lease still runs): nothing to republish or release,
    however long ago the task last changed."""
    task = _new_task(deps, upload)
    assert task.claim(1, _clock(deps).now, _lease(deps)) is ClaimOutcome.RUN
    token = task.claim_token
    _clock(deps).advance(deps.settings.lease_seconds - 1)  # well past the grace period
    result = recovery.sweep(deps, grace_seconds=GRACE)
    assert (result.conversions, result.notifications) == (0, 0)
    assert (task.status, task.claim_token, task.attempts) == (TaskStatus.PROCESSING, token, 1)
    assert _bus(deps).published == []


def test_an_expired_lease_is_republished_but_not_released(deps: Dependencies, upload: Path) -> None:
    """The worker died mid-conversion: the sweep asks again, and the next worker takes
    the task over by its expired lease (the dead attempt still counts)."""
    task = _new_task(deps, upload)
    task.claim(1, _clock(deps).now, _lease(deps))
    _clock(deps).advance(deps.settings.lease_seconds)  # the lease ran out this very second
    result = recovery.sweep(deps, grace_seconds=GRACE)
    assert result.conversions == 1
    assert _republished(deps) == [(deps.settings.conversion_topic, TaskRef(task.id or 0, 1))]
    assert task.status is TaskStatus.PROCESSING and task.attempts == 1
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    assert (task.status, task.attempts) == (TaskStatus.PROCESSED, 2)


def test_a_sweep_during_a_long_conversion_changes_nothing(deps: Dependencies, upload: Path) -> None:
    task = _new_task(deps, upload)
    sweeps: list[recovery.SweepResult] = []

    def meanwhile() -> None:  # the conversion runs long, the scheduler sweeps
        _clock(deps).advance(deps.settings.lease_seconds - 1)
        sweeps.append(recovery.sweep(deps, grace_seconds=GRACE))

    cast(FakeTranscoder, deps.transcoder).during_convert = meanwhile
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    assert sweeps == [recovery.SweepResult(0, 0)]
    assert (task.status, task.attempts) == (TaskStatus.PROCESSED, 1)
    settings = deps.settings
    assert [topic for topic, _ in _republished(deps)] == [
        settings.finished_topic,
        settings.report_topic,
    ]


def test_the_heartbeat_keeps_a_long_conversion_leased(deps: Dependencies, upload: Path) -> None:
    """The heartbeat after ffmpeg extends the lease: while the result is stored, past the
    first lease, no other worker may take the task and no sweep republishes it."""
    task = _new_task(deps, upload)
    lease = deps.settings.lease_seconds
    seen: list[object] = []
    store = cast(FakeBlobs, deps.blobs)
    put_file = store.put_file

    def slow_convert() -> None:
        _clock(deps).advance(lease - 1)

    def slow_store(*args: object, **kwargs: object) -> None:
        _clock(deps).advance(2)  # past the claim's lease, within the renewed one
        seen.append(task.claim(1, _clock(deps).now, _lease(deps)))
        seen.append(recovery.sweep(deps, grace_seconds=GRACE).conversions)
        put_file(*args, **kwargs)  # type: ignore[arg-type]

    cast(FakeTranscoder, deps.transcoder).during_convert = slow_convert
    store.put_file = slow_store  # type: ignore[method-assign]
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    assert seen[:2] == [ClaimOutcome.BUSY, 0]  # while the output is stored (then its waveform)
    assert (task.status, task.attempts, task.progress) == (TaskStatus.PROCESSED, 1, 100.0)


def test_the_lease_is_renewed_before_storing_once_a_second_has_passed(
    deps: Dependencies, upload: Path
) -> None:
    """A short job keeps the lease its claim set (no renewal within the first second);
    from one second on, the lease is renewed before the output is stored."""
    held: list[Task] = []
    leases: list[object] = []
    store = cast(FakeBlobs, deps.blobs)
    put_file = store.put_file

    def storing(key: str, *args: object, **kwargs: object) -> None:
        if key.startswith("outputs/"):  # not the upload
            leases.append(held[-1].lease_expires_at)
        put_file(key, *args, **kwargs)  # type: ignore[arg-type]

    store.put_file = storing  # type: ignore[method-assign]
    transcoder = cast(FakeTranscoder, deps.transcoder)
    for seconds, renewed in ((0.5, False), (conversion.PROGRESS_INTERVAL, True)):
        if held:
            owner = held[0].user_id
            held.append(tasks.create_task(deps, owner, upload, f"{seconds}.mp3", "wav"))
        else:
            held.append(_new_task(deps, upload, f"{seconds}.mp3"))
        claimed = _clock(deps).now
        transcoder.during_convert = lambda s=seconds: _clock(deps).advance(s)  # type: ignore[misc]
        conversion.convert(deps, TaskRef(held[-1].id or 0, 1))
        since = timedelta(seconds=seconds) if renewed else timedelta()
        assert leases[-1] == claimed + since + _lease(deps)


def test_an_ordinary_sweep_waits_out_the_grace_period(deps: Dependencies, upload: Path) -> None:
    """A task just made has its own message on the way: the sweep only asks again once
    the task has been due for ``grace_seconds``."""
    task = _new_task(deps, upload)
    _clock(deps).advance(GRACE - 1)
    assert recovery.sweep(deps).conversions == 0  # a minute by default
    _clock(deps).advance(1)
    assert recovery.sweep(deps).conversions == 1
    assert _republished(deps) == [(deps.settings.conversion_topic, TaskRef(task.id or 0, 1))]


def test_unsent_notifications_wait_out_the_grace_period_too(
    deps: Dependencies, upload: Path
) -> None:
    task = _new_task(deps, upload)
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    report.run_report(deps, TaskRef(task.id or 0, 1))
    _bus(deps).published.clear()
    _clock(deps).advance(GRACE - 1)
    assert recovery.sweep(deps, grace_seconds=GRACE) == recovery.SweepResult(0, 0)
    _clock(deps).advance(1)
    assert recovery.sweep(deps, grace_seconds=GRACE) == recovery.SweepResult(0, 1)
    assert _republished(deps) == [(deps.settings.finished_topic, TaskRef(task.id or 0, 1))]


def test_the_start_up_reclaim_takes_back_even_a_live_lease(
    deps: Dependencies, upload: Path
) -> None:
    """At start-up no other process can hold a task: whatever was processing died with
    the last run, and is due again at once, its attempt not counted."""
    task = _new_task(deps, upload)
    task.claim(1, _clock(deps).now, _lease(deps))
    result = recovery.sweep(deps, grace_seconds=GRACE, reclaim=True)
    assert result.conversions == 1
    assert (task.status, task.attempts, task.claim_token) == (TaskStatus.UPLOADED, 0, None)
    assert _republished(deps) == [(deps.settings.conversion_topic, TaskRef(task.id or 0, 1))]


def test_finished_tasks_are_not_republished_for_conversion(
    deps: Dependencies, upload: Path
) -> None:
    task = _new_task(deps, upload)
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    report.run_report(deps, TaskRef(task.id or 0, 1))
    task.notified_revision = task.revision
    _clock(deps).advance(10 * GRACE)
    assert recovery.sweep(deps, grace_seconds=GRACE) == recovery.SweepResult(0, 0)
    assert recovery.sweep(deps, reclaim=True) == recovery.SweepResult(0, 0)


def test_garbage_collection_keeps_every_file_a_task_refers_to(
    deps: Dependencies, upload: Path
) -> None:
    task = _new_task(deps, upload)
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    report.run_report(deps, TaskRef(task.id or 0, 1))
    store = cast(FakeBlobs, deps.blobs)
    assert recovery.collect_garbage(deps) == 0
    unfinished = "direct-uploads/1/" + "c" * 32 + "/ogg/.part-77"
    store.files[unfinished] = b"half"
    store.files[".part-78"] = b"half, at the top"
    assert recovery.collect_garbage(deps) == 2
    assert set(store.files) == {task.input_key, task.output_key, task.waveform_key}


def test_a_retargeted_task_is_due_after_the_grace_period(deps: Dependencies, upload: Path) -> None:
    task = _new_task(deps, upload)
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    task.notified_revision = 1
    _clock(deps).advance(10 * GRACE)
    _bus(deps).published.clear()
    tasks.change_format(
        deps, task.user_id, task.id or 0, "flac", requested_options({"sampleRate": 48000})
    )
    assert (task.updated_at, task.options.as_json()) == (_clock(deps).now, {"sampleRate": 48000})
    assert recovery.sweep(deps, grace_seconds=GRACE).conversions == 0  # its message is on the way
    _clock(deps).advance(GRACE)
    assert recovery.sweep(deps, grace_seconds=GRACE).conversions == 1
    assert _republished(deps)[-1] == (deps.settings.conversion_topic, TaskRef(task.id or 0, 2))


def test_a_reclaimed_task_whose_request_was_lost_waits_for_the_next_sweep(
    deps: Dependencies, upload: Path
) -> None:
    task = _new_task(deps, upload)
    task.claim(1, _clock(deps).now, _lease(deps))
    _bus(deps).down = True  # the start-up reclaim frees it, but cannot ask for it
    assert recovery.sweep(deps, grace_seconds=GRACE, reclaim=True).conversions == 1
    assert task.status is TaskStatus.UPLOADED and task.updated_at == _clock(deps).now
    _bus(deps).down = False
    assert recovery.sweep(deps, grace_seconds=GRACE).conversions == 0
    _clock(deps).advance(GRACE)
    assert recovery.sweep(deps, grace_seconds=GRACE).conversions == 1
    assert _republished(deps) == [(deps.settings.conversion_topic, TaskRef(task.id or 0, 1))]


def test_a_dead_workers_claims_and_only_those_are_released_and_republished(
    deps: Dependencies, upload: Path
) -> None:
    """A worker process died alone: its tasks are due again at once (the attempt still
    counts), while a live worker's claim, and an unnamed one, are left alone."""
    user = member(deps)
    assert user.id is not None
    made = [tasks.create_task(deps, user.id, upload, f"{n}.mp3", "ogg") for n in range(4)]
    dead, live, unnamed, waiting = made
    now, lease = _clock(deps).now, _lease(deps)
    dead.claim(1, now, lease, claimant="w1")
    live.claim(1, now, lease, claimant="w10")  # starts like "w1": another process
    unnamed.claim(1, now, lease)
    _bus(deps).published.clear()
    assert recovery.release_claims(deps, "w1") == 1
    assert (dead.status, dead.claim_token, dead.attempts) == (TaskStatus.UPLOADED, None, 1)
    assert dead.is_due(now)
    assert _republished(deps) == [(deps.settings.conversion_topic, TaskRef(dead.id or 0, 1))]
    assert [t.status for t in (live, unnamed)] == [TaskStatus.PROCESSING] * 2
    assert live.claimed_by("w10") and waiting.status is TaskStatus.UPLOADED
    _bus(deps).published.clear()
    assert recovery.release_claims(deps, "w1") == 0  # nothing left: nothing published
    assert _bus(deps).published == []
    conversion.convert(deps, TaskRef(dead.id or 0, 1))
    assert (dead.status, dead.attempts) == (TaskStatus.PROCESSED, 2)


def test_a_worker_names_its_claims_with_its_worker_id(deps: Dependencies, upload: Path) -> None:
    task = _new_task(deps, upload)
    named = replace(deps, settings=deps.settings.model_copy(update={"worker_id": "w3"}))
    seen: list[bool] = []
    cast(FakeTranscoder, deps.transcoder).during_convert = lambda: seen.append(
        task.claimed_by("w3")
    )
    conversion.convert(named, TaskRef(task.id or 0, 1))
    assert seen == [True] and task.status is TaskStatus.PROCESSED


def test_a_released_task_whose_request_was_lost_waits_for_the_next_sweep(
    deps: Dependencies, upload: Path
) -> None:
    """Released at the time of the release: an ordinary sweep asks for it again once the
    grace period has run from then."""
    task = _new_task(deps, upload)
    task.claim(1, _clock(deps).now, _lease(deps), claimant="w1")
    _clock(deps).advance(5)
    released_at = _clock(deps).now
    _bus(deps).down = True  # freed, but its request is lost
    assert recovery.release_claims(deps, "w1") == 1
    assert (task.status, task.updated_at) == (TaskStatus.UPLOADED, released_at)
    _bus(deps).down = False
    _clock(deps).advance(GRACE - 1)
    assert recovery.sweep(deps, grace_seconds=GRACE).conversions == 0
    _clock(deps).advance(1)
    assert recovery.sweep(deps, grace_seconds=GRACE).conversions == 1
    assert _republished(deps) == [(deps.settings.conversion_topic, TaskRef(task.id or 0, 1))]


def test_the_sweeps_answer_counts_each_kind_of_request(deps: Dependencies, upload: Path) -> None:
    """What the sweep route and command answer: one conversion and one report pass due."""
    waiting = _new_task(deps, upload, "a.mp3")
    done = tasks.create_task(deps, waiting.user_id, upload, "b.mp3", "ogg")
    conversion.convert(deps, TaskRef(done.id or 0, 1))
    done.notified_revision = done.revision
    _clock(deps).advance(GRACE)
    result = recovery.sweep(deps, grace_seconds=GRACE)
    assert result.as_json() == {"conversions": 1, "notifications": 0, "reports": 1, "expired": 0}


def _said(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == recovery.__name__]


def test_releasing_a_dead_workers_claims_is_logged_when_there_were_any(
    deps: Dependencies, upload: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=recovery.__name__)
    task = _new_task(deps, upload)
    task.claim(1, _clock(deps).now, _lease(deps), claimant="w1")
    assert recovery.release_claims(deps, "w2") == 0
    assert recovery.release_claims(deps, "w1") == 1
    assert _said(caplog) == [(logging.INFO, "released 1 tasks of the dead worker process w1")]


def test_a_sweep_that_only_republishes_notifications_says_so(
    deps: Dependencies, upload: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=recovery.__name__)
    task = _new_task(deps, upload)
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    report.run_report(deps, TaskRef(task.id or 0, 1))
    _clock(deps).advance(GRACE)
    assert recovery.sweep(deps, grace_seconds=GRACE) == recovery.SweepResult(0, 1)
    assert _said(caplog) == [
        (logging.INFO, "sweep republished 0 conversions, 1 notifications, 0 report passes, "
                       "0 webhook attempts"),
    ]  # fmt: skip
