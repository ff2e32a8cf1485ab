"""Google's Pub/Sub emulator (google-cloud-cli), started for a test session.

The ``pubsub_emulator`` fixture of tests/cloud and tests/e2e: each conftest wraps
``running_pubsub_emulator`` in a session fixture.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.support.procs import answering, free_port


@contextlib.contextmanager
def running_pubsub_emulator() -> Iterator[str]:
    """host:port of Google's Pub/Sub emulator (``gcloud beta emulators pubsub start``).

    Skips the test when gcloud is missing (fails it on CI), fails it when the
    emulator does not answer within 60 s.
    """
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        message = "google-cloud-cli (gcloud, with its pubsub-emulator component) is not installed"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    host = f"127.0.0.1:{free_port()}"
    # gcloud starts the emulator as a Java child: its own process group, stopped whole.
    with answering(
        [gcloud, "beta", "emulators", "pubsub", "start", f"--host-port={host}",
         "--project=test-project", "--quiet"],
        f"http://{host}/v1/projects/test-project/topics", "the Pub/Sub emulator", 60,
        stopping=_stop_group, new_session=True,
    ):  # fmt: skip
        yield host


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop gcloud and the emulator it started (SIGKILL whatever outlives SIGTERM)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    time.sleep(0.5)  # the Java child exits just after its parent
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
