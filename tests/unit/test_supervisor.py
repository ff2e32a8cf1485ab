"""The embedded server's supervisor (supervisor.py) on fakes: the start-up reclaim is
retried until it succeeds, the sweeper thread survives a failing sweep, and a dead
worker process's tasks come back at once."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from audioconv import supervisor
from audioconv.domain.model import Task, TaskStatus
from audioconv.services import recovery, tasks
from audioconv.services.dependencies import Dependencies
from tests.unit.fakes import Clock, FakeBus, fake_deps, member


def _failing_first(calls: list[bool]) -> Any:
    def sweep(deps: Any, grace_seconds: float = 60, reclaim: bool = False) -> Any:
        calls.append(reclaim)
        if len(calls) == 1:
            raise ConnectionError("database not reachable yet")
        return recovery.SweepResult(0, 0)

    return sweep


def test_the_start_up_reclaim_is_retried_until_it_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(recovery, "sweep", _failing_first(calls))
    monkeypatch.setattr(supervisor, "RECLAIM_RETRY", 0.01)
    assert supervisor.reclaim_at_start_up(fake_deps(tmp_path), threading.Event())
    assert calls == [True, True]


def test_a_stopped_server_stops_retrying_the_reclaim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(recovery, "sweep", _failing_first(calls))
    stopping = threading.Event()
    stopping.set()
    assert not supervisor.reclaim_at_start_up(fake_deps(tmp_path), stopping)
    assert calls == [True]


def test_the_sweeper_survives_a_failed_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(recovery, "sweep", _failing_first(calls))
    monkeypatch.setattr(supervisor, "SWEEP_INTERVAL", 0.01)
    stop = threading.Event()
    try:
        thread = supervisor.start_sweeper(fake_deps(tmp_path), stop)
        deadline = time.monotonic() + 5
        while len(calls) < 3:
            assert time.monotonic() < deadline, calls
            time.sleep(0.01)
    finally:
        stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert calls[:3] == [False, False, False]  # plain sweeps: the reclaim ran before


def _task_claimed_by(deps: Dependencies, upload: Path, worker_id: str) -> Task:
    user = member(deps)
    assert user.id is not None
    task = tasks.create_task(deps, user.id, upload, "a.mp3", "ogg")
    task.claim(1, cast(Clock, deps.clock).now, timedelta(seconds=60), worker_id)
    return task


def test_a_dead_workers_tasks_are_released(deps: Dependencies, upload: Path) -> None:
    task = _task_claimed_by(deps, upload, "w2")
    supervisor.release_worker(deps, "w2")
    assert task.status is TaskStatus.UPLOADED
    assert cast(FakeBus, deps.bus).published[-1][0] == deps.settings.conversion_topic


def test_a_failed_release_is_left_to_the_sweep(
    deps: Dependencies, upload: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = _task_claimed_by(deps, upload, "w2")

    def broken(deps: Any, claimant: str) -> int:
        raise ConnectionError("database away")

    monkeypatch.setattr(recovery, "release_claims", broken)
    supervisor.release_worker(deps, "w2")  # logged, not raised: the supervisor goes on
    assert task.claimed_by("w2")
