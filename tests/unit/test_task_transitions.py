"""Every cell of the task's transition table: each event from each state leads where the
table says, or raises InvalidTransition and changes nothing; and the table in ``Task``'s
docstring is the one the code keeps."""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from audioconv.domain.errors import InvalidTransition
from audioconv.domain.media import Probe
from audioconv.domain.model import TRANSITIONS, ClaimOutcome, Task, TaskStatus, WebhookAttempt

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=60)
OUTPUT = Probe("mp3", "mp3", "mp3", 1.0, 128000, 44100, 2, {})
ATTEMPT = WebhookAttempt("evt_7_1", 1, NOW, "https://example.com/", 500, None, "retrying", NOW)

# Each event as a call with arguments it accepts. The lease ran out long ago, so a
# claim of a processing task takes it over rather than finding it busy.
EVENTS: dict[str, Callable[[Task], object]] = {
    "claim": lambda t: t.claim(t.revision, NOW + 10 * LEASE, LEASE),
    "renew": lambda t: t.renew(NOW, LEASE, 50.0),
    "release": lambda t: t.release(NOW),
    "interrupted": lambda t: t.interrupted(NOW),
    "succeed": lambda t: t.succeed("outputs/7/song.mp3", OUTPUT, 10, NOW),
    "fail": lambda t: t.fail("not audio", NOW),
    "reported": lambda t: t.reported(output_seconds=1.0),
    "retarget": lambda t: t.retarget("ogg", NOW),
    "notified": lambda t: t.notified(NOW, webhook_due=NOW),
    "told_of_older": lambda t: t.told_of_older(NOW),
    "fetched": lambda t: t.fetched(OUTPUT, "mp3", 10, "song.mp3", 0, NOW),
    "expires": lambda t: t.expires(NOW),
    "gain_tagged": lambda t: t.gain_tagged(None, album_due=True),
    "record_webhook_attempt": lambda t: t.record_webhook_attempt(ATTEMPT),
    "no_webhook_due": lambda t: t.no_webhook_due(),
    "use_webhook": lambda t: t.use_webhook("https://example.com/"),
}


def _in(status: TaskStatus) -> Task:
    """A task in ``status``, reached through the table's own events."""
    task = Task(user_id=1, file_name="song.wav", input_format="wav", output_format="mp3",
                input_key="uploads/song.wav", id=7)  # fmt: skip
    if status is not TaskStatus.UPLOADED:
        assert task.claim(1, NOW, LEASE) is ClaimOutcome.RUN
    if status is TaskStatus.PROCESSED:
        task.succeed("outputs/7/song.mp3", OUTPUT, 10, NOW, report_due=True)
    if status is TaskStatus.FAILED:
        task.fail("not audio", NOW)
    assert task.status is status
    return task


def _fields(task: Task) -> dict[str, object]:
    """Every field's value (not the ORM's bookkeeping, if the classes are mapped)."""
    return {f.name: copy.deepcopy(getattr(task, f.name)) for f in dataclasses.fields(task)}


CELLS = [(event, status) for event in TRANSITIONS for status in TaskStatus]


def test_every_event_is_a_method_of_task_with_a_call_here() -> None:
    assert set(EVENTS) == set(TRANSITIONS)
    assert all(inspect.isfunction(getattr(Task, event)) for event in TRANSITIONS)


def test_the_docstrings_table_is_the_transition_table() -> None:
    doc = inspect.getdoc(Task) or ""
    rows = [line.split() for line in doc.splitlines() if line.split()[:1] in ([e] for e in EVENTS)]
    header = next(line.split() for line in doc.splitlines() if line.startswith("event"))
    assert header == ["event", *(status.value for status in TaskStatus)]
    shown = {
        event: {
            TaskStatus(state): TaskStatus(cell)
            for state, cell in zip(header[1:], cells, strict=True)
            if cell != "-"
        }
        for event, *cells in rows
    }
    assert shown == TRANSITIONS


@pytest.mark.parametrize(("event", "status"), [c for c in CELLS if c[1] in TRANSITIONS[c[0]]])
def test_an_allowed_event_leads_where_the_table_says(event: str, status: TaskStatus) -> None:
    task = _in(status)
    EVENTS[event](task)
    assert task.status is TRANSITIONS[event][status]


@pytest.mark.parametrize(("event", "status"), [c for c in CELLS if c[1] not in TRANSITIONS[c[0]]])
def test_a_forbidden_event_raises_and_changes_nothing(event: str, status: TaskStatus) -> None:
    task = _in(status)
    before = _fields(task)
    with pytest.raises(InvalidTransition, match=f"{event} is not allowed when {status}"):
        EVENTS[event](task)
    assert _fields(task) == before


def test_the_table_forbids_what_the_life_cycle_rules_out() -> None:
    """The cells that matter most, spelled out: a finished task is never converted,
    given back or finished again without a new revision; only a finished one is told
    of or reported on."""
    finished = (TaskStatus.PROCESSED, TaskStatus.FAILED)
    for event in ("renew", "release", "interrupted", "succeed", "fail"):
        assert not set(TRANSITIONS[event]) & set(finished), event
    for event in ("notified", "record_webhook_attempt", "no_webhook_due"):
        assert set(TRANSITIONS[event]) == set(finished), event
    assert TRANSITIONS["reported"] == {TaskStatus.PROCESSED: TaskStatus.PROCESSED}
    assert set(TRANSITIONS["retarget"].values()) == {TaskStatus.UPLOADED}
    assert all(TRANSITIONS["use_webhook"][s] is s for s in TaskStatus)


@pytest.mark.parametrize("status", [TaskStatus.PROCESSED, TaskStatus.FAILED])
def test_a_claim_of_a_finished_task_is_stale_and_changes_nothing(status: TaskStatus) -> None:
    task = _in(status)
    before = _fields(task)
    assert EVENTS["claim"](task) is ClaimOutcome.STALE
    assert _fields(task) == before
