"""Expiry on fakes, when the retention is turned on after tasks were made without
one: each gets its time from when it was made, however many there are."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest

from audioconv.services import expiry, tasks
from audioconv.services.dependencies import Dependencies
from tests.unit.fakes import Clock, FakeBlobs, configure, user_id


def test_tasks_made_without_a_retention_get_their_time_when_it_is_turned_on(
    deps: Dependencies, upload: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger="audioconv.services.expiry")
    monkeypatch.setattr(expiry, "BATCH", 2)  # three tasks: more than one batch
    configure(deps, retention_hours=0)
    clock = cast(Clock, deps.clock)
    uid = user_id(deps)
    made = []
    for n in range(3):
        made.append(tasks.create_task(deps, uid, upload, f"{n}.mp3", "wav"))
        clock.advance(600)
    assert all(t.expires_at is None for t in made)
    configure(deps, retention_hours=1)
    assert expiry.expire_tasks(deps) == 0  # the oldest has 10 minutes left
    assert [t.expires_at for t in made] == [t.created_at + timedelta(hours=1) for t in made]
    clock.now = made[-1].created_at + timedelta(hours=1)
    assert expiry.expire_tasks(deps) == 3
    assert tasks.list_tasks(deps, uid, None, False) == []
    assert cast(FakeBlobs, deps.blobs).files == {}
    assert caplog.records[-1].getMessage() == (
        "deleted 3 tasks older than the retention of 1 hours, with their files"
    )


def test_turning_the_retention_off_keeps_every_task_again(
    deps: Dependencies, upload: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="audioconv.services.expiry")
    configure(deps, retention_hours=1)
    uid = user_id(deps)
    made = [tasks.create_task(deps, uid, upload, f"{n}.mp3", "wav") for n in range(2)]
    assert all(t.expires_at is not None for t in made)
    configure(deps, retention_hours=0)
    cast(Clock, deps.clock).advance(7200)
    assert expiry.expire_tasks(deps) == 0
    assert [t.expires_at for t in made] == [None, None]
    assert [r.getMessage() for r in caplog.records] == ["retention is off: 2 tasks will be kept"]
