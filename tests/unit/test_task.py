"""The task state machine (domain/model.py) on plain objects: claim, renew, fence,
finish, give back, convert again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from audioconv.domain.errors import InvalidTransition
from audioconv.domain.media import Loudness, Probe
from audioconv.domain.model import (
    CLAIMANT_MAX_CHARS,
    ClaimOutcome,
    Task,
    TaskStatus,
    claim_prefix,
    new_claim_token,
)
from audioconv.domain.options import ConversionOptions

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=60)
MP3 = Probe("mp3", "mp3", "mp3", 1.0, 128000, 44100, 2, {})
FLAC = Probe("flac", "flac", "flac", 1.0, None, 44100, 2, {}, sample_format="s16")


def _task(**fields: object) -> Task:
    return Task(user_id=1, file_name="song.flac", input_format="flac", output_format="mp3",
                input_key="uploads/x/song.flac", **fields)  # type: ignore[arg-type]  # fmt: skip


def _claimed() -> tuple[Task, str]:
    task = _task()
    assert task.claim(1, NOW, LEASE) is ClaimOutcome.RUN
    assert task.claim_token is not None
    return task, task.claim_token


def test_a_claim_takes_an_uploaded_task_under_a_lease() -> None:
    task, token = _claimed()
    assert (task.status, task.attempts, task.progress) == (TaskStatus.PROCESSING, 1, 0.0)
    assert task.lease_expires_at == NOW + LEASE
    assert task.holds(1, token)
    assert not task.is_due(NOW + LEASE - timedelta(seconds=1))


def test_a_live_lease_makes_other_claims_busy_and_an_expired_one_is_taken_over() -> None:
    task, first = _claimed()
    assert task.claim(1, NOW + LEASE - timedelta(seconds=1), LEASE) is ClaimOutcome.BUSY
    assert task.attempts == 1 and task.holds(1, first)
    assert task.is_due(NOW + LEASE)  # the lease ran out: due again
    assert task.claim(1, NOW + LEASE, LEASE) is ClaimOutcome.RUN
    assert task.attempts == 2
    # The first attempt is fenced off: its token no longer holds the task.
    assert not task.holds(1, first) and task.holds(1, task.claim_token or "")


def test_requests_for_another_revision_or_a_finished_task_are_stale() -> None:
    task = _task(revision=2)
    assert task.claim(1, NOW, LEASE) is ClaimOutcome.STALE
    assert task.claim(3, NOW, LEASE) is ClaimOutcome.STALE
    assert (task.status, task.attempts) == (TaskStatus.UPLOADED, 0)
    task, token = _claimed()
    task.succeed("outputs/1/r1/x/song.mp3", {"codec": "mp3"}, 123, NOW)
    assert task.claim(1, NOW, LEASE) is ClaimOutcome.STALE
    assert not task.holds(1, token)


def test_renew_extends_the_lease_and_records_progress() -> None:
    task, token = _claimed()
    later = NOW + timedelta(seconds=50)
    task.renew(later, LEASE, 42.5)
    assert (task.lease_expires_at, task.progress) == (later + LEASE, 42.5)
    assert not task.is_due(NOW + LEASE + timedelta(seconds=1))
    assert task.claim(1, NOW + LEASE + timedelta(seconds=1), LEASE) is ClaimOutcome.BUSY
    assert task.holds(1, token)


def test_succeed_and_fail_finish_the_task_and_end_the_claim() -> None:
    task, token = _claimed()
    task.succeed("out/key", {"codec": "mp3"}, 321, NOW)
    assert (task.status, task.output_key, task.output_bytes, task.progress, task.error) == (
        TaskStatus.PROCESSED, "out/key", 321, 100.0, None)  # fmt: skip
    assert task.finished and not task.is_due(NOW) and task.lease_expires_at is None
    assert not task.holds(1, token)

    task, token = _claimed()
    task.fail("not audio", NOW)
    assert (task.status, task.error, task.claim_token) == (TaskStatus.FAILED, "not audio", None)
    assert task.finished and not task.is_due(NOW) and not task.holds(1, token)


def test_release_gives_the_task_back_due_at_once_and_counts_the_attempt() -> None:
    task, token = _claimed()
    task.release(NOW)
    assert (task.status, task.attempts, task.lease_expires_at) == (TaskStatus.UPLOADED, 1, None)
    assert task.is_due(NOW) and not task.holds(1, token)


def test_an_interrupted_attempt_is_given_back_and_not_counted() -> None:
    task, token = _claimed()
    task.interrupted(NOW)
    assert (task.status, task.attempts) == (TaskStatus.UPLOADED, 0)
    assert task.is_due(NOW) and not task.holds(1, token)
    with pytest.raises(InvalidTransition):  # given back already: nothing to interrupt
        task.interrupted(NOW)
    assert task.attempts == 0


def test_retarget_starts_a_new_revision_from_scratch() -> None:
    task, token = _claimed()
    task.release(NOW)
    assert task.claim(1, NOW, LEASE) is ClaimOutcome.RUN
    task.succeed("outputs/old.mp3", MP3, 10, NOW)
    later = NOW + timedelta(seconds=5)
    task.retarget("ogg", later, ConversionOptions(quality="high"))
    # The old output is kept (downloadable) until the new one replaces it.
    assert task.kept_output_key == "outputs/old.mp3" and task.kept_output_format == "mp3"
    assert task.kept_output_bytes == 10 and task.output_key is None
    assert (task.revision, task.status, task.output_format, task.options.as_json()) == (
        2, TaskStatus.UPLOADED, "ogg", {"quality": "high"})  # fmt: skip
    assert (task.attempts, task.progress, task.output_key, task.output_bytes) == (0, 0.0, None, 0)
    assert (task.output_probe, task.error, task.updated_at) == (None, None, later)
    assert task.is_due(later) and not task.holds(1, token)
    # A request for the old revision is stale; the new one runs.
    assert task.claim(1, later, LEASE) is ClaimOutcome.STALE
    assert task.claim(2, later, LEASE) is ClaimOutcome.RUN


@pytest.mark.parametrize("status", [TaskStatus.PROCESSED, TaskStatus.FAILED])
def test_finished_tasks_are_not_due(status: TaskStatus) -> None:
    assert not _task(status=status).is_due(NOW)


def test_processing_without_a_lease_is_due() -> None:
    assert _task(status=TaskStatus.PROCESSING).is_due(NOW)


def test_refused_means_no_probe_of_the_input_was_ever_stored() -> None:
    assert _task(status=TaskStatus.FAILED, error="not audio").refused
    assert not _task(input_probe=Probe.from_record({"format": "flac", "codec": "flac"})).refused


def test_success_without_a_measured_input_keeps_the_inputs_stored_loudness() -> None:
    task, _ = _claimed()
    stored = replace(FLAC, loudness=Loudness(-20.0, 5.0, -1.0))
    task.input_probe = stored
    task.succeed("out", MP3, 10, NOW)
    assert task.input_probe == stored
    task.retarget("ogg", NOW)
    task.claim(task.revision, NOW, LEASE)
    measured = Loudness(-18.0, 4.0, -2.0)
    task.succeed("out2", MP3, 10, NOW, input_loudness=measured)
    assert task.input_probe == replace(stored, loudness=measured)


def test_a_claim_by_a_named_worker_carries_its_name_and_stays_unique() -> None:
    task = _task()
    assert task.claim(1, NOW, LEASE, claimant="w12") is ClaimOutcome.RUN
    token = task.claim_token
    assert token is not None and token.startswith("w12.") and len(token) == 32
    assert task.claimed_by("w12")
    # Another name that only starts the same way, or none, is not this claimant.
    assert not task.claimed_by("w1") and not task.claimed_by("w123")
    task.release(NOW)
    assert not task.claimed_by("w12")  # given back: nobody holds it
    task.claim(1, NOW, LEASE, claimant="w12")
    assert task.claim_token != token  # a new claim, a new token
    task.fail("broken", NOW)
    assert not task.claimed_by("w12")


def test_an_unnamed_claim_is_plain_hex_and_belongs_to_no_worker() -> None:
    task, token = _claimed()
    assert len(token) == 32 and int(token, 16) >= 0
    assert not task.claimed_by("w1")


def test_claim_tokens_keep_76_random_bits_for_the_longest_name() -> None:
    name = "a" * CLAIMANT_MAX_CHARS
    tokens = {new_claim_token(name) for _ in range(100)}
    assert len(tokens) == 100
    assert all(t.startswith(name + ".") and len(t) == 32 for t in tokens)
    assert len(new_claim_token(name)) - len(name) - 1 == 19  # hex digits: 76 bits


@pytest.mark.parametrize("name", ["", "w.1", "a" * (CLAIMANT_MAX_CHARS + 1)])
def test_a_claimant_name_is_short_and_has_no_separator(name: str) -> None:
    with pytest.raises(ValueError, match="claimant"):
        claim_prefix(name)
