"""A dead worker process's work given back by the supervisor, on SQLite and PostgreSQL:
exactly the tasks its claims hold, republished, and its queued messages shown again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from audioconv import bootstrap, supervisor
from audioconv.adapters.orm import messages
from audioconv.adapters.sql_queue import SqlQueueBus
from audioconv.config import Settings
from audioconv.domain.model import Task, TaskStatus, User, utcnow
from audioconv.services import recovery
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import request_conversion

LEASE = timedelta(seconds=60)


@pytest.fixture
def queued(settings: Settings) -> Iterator[Dependencies]:
    """Real adapters publishing into the database queue, which nothing consumes here."""
    built = bootstrap.build(settings.model_copy(update={"event_backend": "queue"}))
    yield built
    built.close()


def _claimed(deps: Dependencies, claimants: list[str]) -> list[int]:
    """One task per claimant ("" = an unnamed claim), each claimed, its request queued."""
    made = []
    with deps.uow() as uow:
        user = User(username="ann", email="ann@example.com", password_hash="h")
        uow.users.add(user)
        assert user.id is not None
        for n, claimant in enumerate(claimants):
            task = Task(user_id=user.id, file_name=f"{n}.mp3", input_format="mp3",
                        output_format="ogg", input_key=f"uploads/{n}/{n}.mp3")  # fmt: skip
            uow.tasks.add(task)
            task.claim(1, utcnow(), LEASE, claimant)
            made.append(task)
        uow.commit()
    for task in made:  # after the commit, as the services publish
        request_conversion(deps, task)
    return [task.id or 0 for task in made]


def _hold(deps: Dependencies, task_id: int, holder: str) -> None:
    """Mark the task's queued request as taken by ``holder``, as its consumer does."""
    bus = deps.bus
    assert isinstance(bus, SqlQueueBus)
    with bus.engine.begin() as conn:
        for row in conn.execute(select(messages.c.id, messages.c.data)).all():
            if row.data["taskId"] == task_id:
                conn.execute(
                    messages.update().where(messages.c.id == row.id)
                    .values(holder=holder, available_at=utcnow() + LEASE)
                )  # fmt: skip


def _queue(deps: Dependencies) -> dict[int, tuple[str | None, bool]]:
    """Each queued request's task: its holder, and whether it is due now."""
    bus = deps.bus
    assert isinstance(bus, SqlQueueBus)
    with bus.engine.connect() as conn:
        rows = conn.execute(select(messages)).all()
    now = utcnow()
    return {r.data["taskId"]: (r.holder, r.available_at <= now) for r in rows}


def test_release_claims_frees_only_the_named_workers_tasks(queued: Dependencies) -> None:
    dead, live, similar, unnamed = _claimed(queued, ["w1", "w2", "w10", ""])
    assert recovery.release_claims(queued, "w1") == 1
    with queued.uow(readonly=True) as uow:
        tasks = {t.id: t for t in uow.tasks.unfinished()}
        assert list(uow.tasks.claimed_by("w1")) == []
        assert [t.id for t in uow.tasks.claimed_by("w10")] == [similar]
    assert (tasks[dead].status, tasks[dead].claim_token) == (TaskStatus.UPLOADED, None)
    assert tasks[dead].attempts == 1
    for other in (live, similar, unnamed):
        assert tasks[other].status is TaskStatus.PROCESSING
    assert len(_queue(queued)) == 4  # republished onto the request still queued: once


def test_a_dead_workers_tasks_and_messages_come_back_at_once(queued: Dependencies) -> None:
    dead, live = _claimed(queued, ["w1", "w2"])
    _hold(queued, dead, "w1")
    _hold(queued, live, "w2")
    supervisor.release_worker(queued, "w1")
    assert _queue(queued) == {dead: (None, True), live: ("w2", False)}
    with queued.uow(readonly=True) as uow:
        assert [t.id for t in uow.tasks.unfinished() if t.is_due(utcnow())] == [dead]


def test_the_start_up_reclaim_frees_every_claim_and_held_message(queued: Dependencies) -> None:
    first, second = _claimed(queued, ["w1", "w2"])
    _hold(queued, first, "w1")
    _hold(queued, second, "w2")
    assert supervisor.reclaim_at_start_up(queued, threading.Event())
    assert _queue(queued) == {first: (None, True), second: (None, True)}
    with queued.uow(readonly=True) as uow:
        assert {t.status for t in uow.tasks.unfinished()} == {TaskStatus.UPLOADED}
