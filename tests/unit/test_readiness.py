"""The readiness checks' bookkeeping, on fakes of the ports: a hung check is
reported as a timeout and not started again while it runs; a pass is reused for a
while; a failure is checked again at the next probe."""

from __future__ import annotations

import threading

import pytest

from audioconv.services.dependencies import Dependencies
from audioconv.services.readiness import Readiness
from tests.unit.fakes import FakeBlobs


class CountingBlobs(FakeBlobs):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.release = threading.Event()
        self.release.set()

    def check(self) -> None:
        self.calls += 1
        self.release.wait(10)
        super().check()


@pytest.fixture
def blobs(deps: Dependencies) -> CountingBlobs:
    """The deps fixture's store, counting its checks (and able to hang them)."""
    deps.blobs = CountingBlobs()
    return deps.blobs


def test_a_hung_check_times_out_and_is_not_piled_up(
    deps: Dependencies, blobs: CountingBlobs
) -> None:
    blobs.release.clear()
    readiness = Readiness(timeout=0.2)
    first = readiness.check(deps)
    assert first.checks == {"database": "ok", "blobStore": "timeout", "ffmpeg": "ok"}
    assert not first.ready and first.failing == ["blobStore"]
    assert readiness.check(deps).checks["blobStore"] == "timeout"
    assert blobs.calls == 1  # the running check was waited on again, not restarted
    blobs.release.set()
    readiness.timeout = 5.0
    assert readiness.check(deps).ready


def test_passes_are_reused_and_failures_checked_again(
    deps: Dependencies, blobs: CountingBlobs
) -> None:
    now = [100.0]
    readiness = Readiness(clock=lambda: now[0])
    assert readiness.check(deps).ready and blobs.calls == 1
    blobs.fail_puts = True  # storage goes down...
    assert readiness.check(deps).ready and blobs.calls == 1  # ...a recent pass still counts
    now[0] += 6.0
    assert readiness.check(deps).checks["blobStore"] == "failing" and blobs.calls == 2
    blobs.fail_puts = False
    assert readiness.check(deps).ready and blobs.calls == 3  # a failure is not reused


def test_a_check_is_run_until_it_first_passes_and_failures_are_logged_with_their_reason(
    deps: Dependencies, blobs: CountingBlobs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="audioconv")
    blobs.fail_puts = True
    readiness = Readiness(clock=lambda: 0.0)  # the monotonic clock may start at zero
    assert readiness.check(deps).checks["blobStore"] == "failing" and blobs.calls == 1
    said = [r.getMessage() for r in caplog.records]
    assert said == ["readiness: blobStore is not ready: OSError: storage is down"]


def test_a_hung_check_is_logged_as_still_running(
    deps: Dependencies, blobs: CountingBlobs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="audioconv")
    blobs.release.clear()
    assert Readiness(timeout=0.2).check(deps).checks["blobStore"] == "timeout"
    blobs.release.set()
    assert "readiness: the blobStore check is still running after 0 s" in [
        r.getMessage() for r in caplog.records
    ]
