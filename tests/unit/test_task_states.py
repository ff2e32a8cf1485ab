"""The task state machine on its own: claims, leases, heartbeats, release and retarget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from audioconv.domain.media import Probe
from audioconv.domain.model import MAX_ID, ClaimOutcome, Task, TaskStatus, as_utc, utcnow, valid_id
from audioconv.domain.options import ConversionOptions

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=60)
MP3 = Probe("mp3", "mp3", "mp3", 1.0, 128000, 44100, 2, {})


def _task(**fields: object) -> Task:
    values: dict[str, object] = {
        "user_id": 1, "file_name": "song.flac", "input_format": "flac",
        "output_format": "mp3", "input_key": "uploads/song.flac",
    }  # fmt: skip
    values.update(fields)
    return Task(**values)  # type: ignore[arg-type]


def _claimed(now: datetime = T0) -> Task:
    task = _task(id=7)
    assert task.claim(1, now, LEASE) is ClaimOutcome.RUN
    return task


def test_a_new_task_is_due_and_unfinished() -> None:
    task = _task()
    assert (task.status, task.revision, task.attempts) == (TaskStatus.UPLOADED, 1, 0)
    assert task.is_due(T0) and not task.finished


def test_a_claim_takes_the_task_under_a_lease() -> None:
    task = _task(progress=40.0)
    assert task.claim(1, T0, LEASE) is ClaimOutcome.RUN
    assert task.status is TaskStatus.PROCESSING
    assert (task.attempts, task.progress, task.lease_expires_at) == (1, 0.0, T0 + LEASE)
    assert task.updated_at == T0
    assert task.claim_token and task.holds(1, task.claim_token)
    assert not task.holds(2, task.claim_token) and not task.holds(1, "another claim")


def test_every_claim_has_its_own_token() -> None:
    task = _claimed()
    first = task.claim_token
    assert task.claim(1, T0 + LEASE, LEASE) is ClaimOutcome.RUN  # the lease ran out: taken over
    assert task.claim_token != first and task.attempts == 2
    assert first is not None and not task.holds(1, first)


def test_a_live_lease_makes_other_claims_wait_until_it_runs_out() -> None:
    task = _claimed()
    token = task.claim_token
    assert not task.is_due(T0 + LEASE - timedelta(seconds=1))
    assert task.claim(1, T0 + LEASE - timedelta(seconds=1), LEASE) is ClaimOutcome.BUSY
    assert (task.claim_token, task.attempts) == (token, 1)  # a busy answer changes nothing
    assert task.is_due(T0 + LEASE)  # runs out at its very second
    assert task.claim(1, T0 + LEASE, LEASE) is ClaimOutcome.RUN


def test_a_processing_task_without_a_lease_is_due() -> None:
    task = _claimed()
    task.lease_expires_at = None
    assert task.is_due(T0)
    assert task.claim(1, T0, LEASE) is ClaimOutcome.RUN


def test_naive_lease_times_from_sqlite_read_as_utc() -> None:
    task = _claimed()
    task.lease_expires_at = (T0 + LEASE).replace(tzinfo=None)
    assert not task.is_due(T0 + LEASE - timedelta(seconds=1))
    assert task.is_due(T0 + LEASE)
    assert as_utc(datetime(2026, 1, 1)) == T0
    assert as_utc(T0 + LEASE) == T0 + LEASE


def test_a_heartbeat_extends_the_lease_and_records_progress() -> None:
    task = _claimed()
    beat = T0 + timedelta(seconds=50)
    task.renew(beat, LEASE, 42.5)
    assert (task.lease_expires_at, task.progress) == (beat + LEASE, 42.5)
    later = T0 + LEASE + timedelta(seconds=30)  # past the first lease, within the renewed one
    assert not task.is_due(later)
    assert task.claim(1, later, LEASE) is ClaimOutcome.BUSY
    assert task.status is TaskStatus.PROCESSING and task.attempts == 1


def test_stale_revisions_and_finished_tasks_are_not_claimed() -> None:
    task = _task()
    assert task.claim(2, T0, LEASE) is ClaimOutcome.STALE
    assert task.claim(0, T0, LEASE) is ClaimOutcome.STALE
    assert (task.status, task.attempts) == (TaskStatus.UPLOADED, 0)
    task.fail("broken", T0)
    assert task.claim(1, T0, LEASE) is ClaimOutcome.STALE
    done = _claimed()
    done.succeed("outputs/7/song.mp3", {"codec": "mp3"}, 10, T0)
    assert done.claim(1, T0 + LEASE, LEASE) is ClaimOutcome.STALE


def test_release_makes_it_due_again_at_once_and_counts_the_attempt() -> None:
    task = _claimed()
    token = task.claim_token
    later = T0 + timedelta(seconds=5)
    task.release(later)
    assert task.status is TaskStatus.UPLOADED and task.claim_token is None
    assert (task.lease_expires_at, task.updated_at, task.attempts) == (None, later, 1)
    assert token is not None and not task.holds(1, token)
    assert task.is_due(later)


def test_an_interrupted_attempt_is_not_counted() -> None:
    task = _claimed()
    task.claim(1, T0 + LEASE, LEASE)
    assert task.attempts == 2
    task.interrupted(T0 + LEASE)
    assert (task.status, task.attempts, task.claim_token) == (TaskStatus.UPLOADED, 1, None)
    fresh = _task(status=TaskStatus.PROCESSING)  # never counted: stays at zero
    fresh.interrupted(T0)
    assert fresh.attempts == 0


def test_success_records_the_output() -> None:
    task = _claimed()
    task.error = "an older failure"
    task.succeed("outputs/7/song.mp3", MP3, 1234, T0 + LEASE)
    assert (task.status, task.finished, task.claim_token) == (TaskStatus.PROCESSED, True, None)
    assert (task.output_key, task.output_bytes, task.output_probe) == (
        "outputs/7/song.mp3", 1234, MP3)  # fmt: skip
    assert (task.error, task.progress, task.lease_expires_at) == (None, 100.0, None)
    assert task.updated_at == T0 + LEASE and not task.is_due(T0 + 10 * LEASE)


def test_failure_records_the_reason() -> None:
    task = _claimed()
    task.fail("not audio", T0 + LEASE)
    assert (task.status, task.finished, task.error) == (TaskStatus.FAILED, True, "not audio")
    assert (task.claim_token, task.lease_expires_at, task.updated_at) == (None, None, T0 + LEASE)
    assert not task.is_due(T0 + 10 * LEASE)


def test_retarget_starts_a_new_revision_from_scratch() -> None:
    """A retargeted task is a fresh job: the old attempts no longer count against it."""
    task = _claimed()
    task.claim(1, T0 + LEASE, LEASE)
    task.succeed("outputs/7/song.mp3", MP3, 1234, T0 + LEASE)
    task.attempts = 5
    task.error = "left over"
    later = T0 + 2 * LEASE
    task.retarget("ogg", later, ConversionOptions(quality="high"))
    assert task.kept_output_key == "outputs/7/song.mp3" and task.output_key is None
    assert (task.output_format, task.options.as_json(), task.revision) == (
        "ogg",
        {"quality": "high"},
        2,
    )
    assert (task.status, task.attempts, task.progress) == (TaskStatus.UPLOADED, 0, 0.0)
    assert (task.output_key, task.output_bytes, task.output_probe) == (None, 0, None)
    assert (task.error, task.claim_token, task.lease_expires_at) == (None, None, None)
    assert task.updated_at == later and task.is_due(later)
    assert task.claim(1, later, LEASE) is ClaimOutcome.STALE  # the old revision's work is moot
    assert task.claim(2, later, LEASE) is ClaimOutcome.RUN and task.attempts == 1
    assert task.output_name == "song.ogg"


def test_retarget_of_a_task_never_converted_has_no_output_to_keep() -> None:
    task = _task()
    task.retarget("wav", T0)
    assert task.kept_output_key is None
    assert (task.options, task.revision) == (ConversionOptions(), 2)


@pytest.mark.parametrize(
    ("file_name", "output_format", "output_name"),
    [("a.b.flac", "m4a", "a.b.m4a"), ("song.wav", "alac", "song.m4a"),
     ("song.wav", "opus", "song.opus"), ("noext", "mp3", "noext.mp3"),
     ("song.wav", "mka", "song.mka")],
)  # fmt: skip
def test_the_output_is_named_for_the_format_extension(
    file_name: str, output_format: str, output_name: str
) -> None:
    assert _task(file_name=file_name, output_format=output_format).output_name == output_name


@pytest.mark.parametrize(("value", "valid"), [(0, False), (1, True), (MAX_ID, True),
                                              (MAX_ID + 1, False), (-1, False)])  # fmt: skip
def test_ids_are_positive_32_bit_integers(value: int, valid: bool) -> None:
    assert valid_id(value) is valid


def test_times_are_taken_in_utc() -> None:
    task = _task()
    assert task.created_at.tzinfo is UTC and task.updated_at.tzinfo is UTC
    assert utcnow().tzinfo is UTC
