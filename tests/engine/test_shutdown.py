"""Stopping the server stops its ffmpeg children; their work is redone, not failed."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from audioconv import bootstrap
from audioconv.adapters.ffmpeg import FfmpegTranscoder
from audioconv.config import Settings
from audioconv.domain.errors import RetryLater
from tests.support.audio import job, make_audio
from tests.support.procs import fake_ffmpeg


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_kill_children_stops_a_running_conversion(tmp_path: Path) -> None:
    src = make_audio(tmp_path / "a.wav", 1.0)
    real = FfmpegTranscoder()
    stuck = fake_ffmpeg(tmp_path, "exec sleep 60")  # one process, as ffmpeg is
    transcoder = FfmpegTranscoder(stuck, real.ffprobe)
    probe = transcoder.probe(src)
    raised: list[BaseException] = []

    def convert() -> None:
        try:
            transcoder.convert(src, job(probe, "mp3"), tmp_path / "o.mp3", lambda _: None)
        except BaseException as exc:
            raised.append(exc)

    worker = threading.Thread(target=convert)
    started = time.monotonic()
    worker.start()
    deadline = time.monotonic() + 10
    while not transcoder._children:
        assert time.monotonic() < deadline, "ffmpeg never started"
        time.sleep(0.02)
    (child,) = list(transcoder._children)

    transcoder.kill_children()
    worker.join(timeout=10)

    assert not worker.is_alive()
    assert time.monotonic() - started < 10
    assert not _alive(child.pid) and child.returncode is not None
    (error,) = raised
    assert isinstance(error, RetryLater), error  # released for a retry, not failed
    assert not transcoder._children
    # Once shutting down, nothing new is started.
    with pytest.raises(RetryLater):
        transcoder.probe(src)


def test_closing_the_dependencies_kills_children(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
    )
    deps = bootstrap.build(settings)
    transcoder = deps.transcoder
    assert isinstance(transcoder, FfmpegTranscoder)
    deps.close()
    with pytest.raises(RetryLater):
        transcoder.probe(make_audio(tmp_path / "a.wav", 0.5))
