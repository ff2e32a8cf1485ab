"""How the emulators are started (tests/support/procs.py ``answering``): the block runs
once the process answers, the process is stopped after it, and one that exits or
never answers fails the test by name."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.procs import answering, free_port, stop


def test_the_block_runs_once_the_process_answers_and_stops_it_after() -> None:
    port = free_port()
    server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with answering(server, f"http://127.0.0.1:{port}/", "http.server", 20) as proc:
        assert proc.poll() is None  # up, and answering
    assert proc.poll() is not None


def test_a_process_that_exits_or_never_answers_fails_by_name() -> None:
    stopped: list[subprocess.Popen[bytes]] = []

    def stopping(proc: subprocess.Popen[bytes]) -> None:
        stop(proc)
        stopped.append(proc)

    exits = [sys.executable, "-c", "pass"]
    quitter = answering(exits, f"http://127.0.0.1:{free_port()}/", "the quitter", 20, stopping)
    with pytest.raises(pytest.fail.Exception, match=r"^the quitter did not start$"), quitter:
        raise AssertionError("never reached")
    silent = [sys.executable, "-c", "import time; time.sleep(60)"]
    mute = answering(silent, f"http://127.0.0.1:{free_port()}/", "the mute", 0.5, stopping)
    with pytest.raises(pytest.fail.Exception, match=r"^the mute did not start$"), mute:
        raise AssertionError("never reached")
    # Both stopped even so: the one that exited by itself, the silent one terminated.
    assert [proc.returncode for proc in stopped] == [0, -15]
