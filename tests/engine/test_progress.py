"""Progress: read from ffmpeg's -progress output, recorded at most once a second."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from audioconv.domain.job import ConversionJob, ConversionResult
from audioconv.domain.model import TaskStatus
from audioconv.ports import ProgressCallback
from audioconv.services import conversion, tasks
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.support.api import ApiClient
from tests.support.audio import make_audio
from tests.unit.fakes import FakeTranscoder, fake_deps

LONG_SECONDS = 150.0  # a sine compresses to a small FLAC; Opus takes a few seconds


def test_api_shows_intermediate_progress_on_a_long_file(alice: ApiClient, tmp_path: Path) -> None:
    song = make_audio(tmp_path / "long.flac", LONG_SECONDS, (), None, 48000, 2)
    created = alice.upload(song, "opus").get_json()
    seen: list[float] = []
    deadline = time.monotonic() + 180  # a timeout on a busy machine, not a speed check
    while time.monotonic() < deadline:
        task = alice.get(f"/api/tasks/{created['id']}").get_json()
        if task["status"] == "processing":
            seen.append(task["progress"])
        if task["status"] in ("processed", "failed"):
            break
        time.sleep(0.05)
    assert task["status"] == "processed", task
    assert task["progress"] == 100.0
    middle = sorted({p for p in seen if 0 < p < 100})
    assert middle, f"no intermediate progress seen: {seen[:5]}...{seen[-5:]}"
    assert seen == sorted(seen)  # never goes backwards


class TickingTranscoder(FakeTranscoder):
    """Reports progress every 10 ms for 2.5 s, like a busy ffmpeg."""

    def convert(
        self, src: Path, job: ConversionJob, dst: Path, on_progress: ProgressCallback
    ) -> ConversionResult:
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < 2.5:
            on_progress(elapsed / 2.5 * 100)
            time.sleep(0.01)
        return super().convert(src, job, dst, lambda _: None)


def test_progress_is_written_at_most_once_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = fake_deps(tmp_path)
    deps.transcoder = TickingTranscoder()
    upload = tmp_path / "a.mp3"
    upload.write_bytes(b"AUDIO tone")
    with deps.uow() as uow:
        from audioconv.domain.model import User

        user = User("u", "u@example.com", "x")
        uow.users.add(user)
    task = tasks.create_task(deps, user.id or 0, upload, "a.mp3", "wav")
    writes: list[tuple[float, float]] = []
    real = conversion._heartbeat

    def recording(
        deps_: Dependencies,
        attempt: conversion.Attempt,
        lease: object,
        percent: float | None = None,
    ) -> None:
        if percent is not None:  # progress writes (lease renewals around I/O carry none)
            writes.append((time.monotonic(), percent))
        real(deps_, attempt, lease, percent)  # type: ignore[arg-type]

    monkeypatch.setattr(conversion, "_heartbeat", recording)
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    assert task.status is TaskStatus.PROCESSED
    assert 2 <= len(writes) <= 3, writes  # ~250 reports, one write per second
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(writes)]
    assert all(gap >= 0.99 for gap in gaps), gaps
    assert [p for _, p in writes] == sorted(p for _, p in writes)
