"""PyPI's ``gcp-storage-emulator``, in memory, in a subprocess (so its store does not
count against the tests' own memory in the streaming tests)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.procs import answering, free_port


@contextmanager
def running_gcs_emulator() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The emulator's base URL (for STORAGE_EMULATOR_HOST) and its process, until the
    block ends; fails the test when it does not answer within 20 s."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
            "--port", str(port), "--in-memory", "--quiet"]  # fmt: skip
    with answering(args, url + "/", "gcp-storage-emulator", 20) as proc:
        yield url, proc
