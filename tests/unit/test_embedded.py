"""The embedded server's sweeper thread survives a failing sweep."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from audioconv import embedded
from audioconv.services import recovery
from tests.unit.fakes import fake_deps


def test_sweeper_survives_a_failed_start_up_reclaim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []

    def sweep(deps: Any, grace_seconds: float = 60, reclaim: bool = False) -> Any:
        calls.append(reclaim)
        if len(calls) == 1:
            raise ConnectionError("database not reachable yet")
        return recovery.SweepResult(0, 0)

    monkeypatch.setattr(recovery, "sweep", sweep)
    monkeypatch.setattr(embedded, "SWEEP_INTERVAL", 0.01)
    stop = threading.Event()
    try:
        thread = embedded.start_sweeper(fake_deps(tmp_path), stop)
        deadline = time.monotonic() + 5
        while len(calls) < 3:
            assert time.monotonic() < deadline, calls
            time.sleep(0.01)
    finally:
        stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    # The reclaim failed, so it was tried again; then plain sweeps follow.
    assert calls[:3] == [True, True, False]
