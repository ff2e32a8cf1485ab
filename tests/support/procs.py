"""Start the service's processes the way users and App Engine do, and wait on them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate ``proc``, killing it if it has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def answering(
    args: list[str],
    url: str,
    what: str,
    timeout: float,
    stopping: Callable[[subprocess.Popen[bytes]], None] = stop,
    new_session: bool = False,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` (its output discarded) until the block ends, yielding it once a GET
    of ``url`` succeeds; the test fails, naming ``what``, if the process exits first or
    ``url`` does not answer within ``timeout`` seconds. ``stopping`` ends it (``stop``;
    in its own process group with ``new_session``, for a tree to stop whole)."""
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=new_session
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{what} did not start")
                time.sleep(0.1)
        yield proc
    finally:
        stopping(proc)


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited {proc.returncode}:\n{log.read_text()}")
        try:
            requests.get(url, timeout=1)
            return
        except (requests.ConnectionError, requests.Timeout):  # not listening, or still booting
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up:\n{log.read_text()}")


@contextmanager
def running(
    args: list[str], env: dict[str, str], port: int, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` in its own process group until the block ends; yield the process."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args, env={**os.environ, **env, "PORT": str(port)}, cwd=ROOT,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc, log)
        yield proc
    finally:
        kill_group(proc, signal.SIGTERM)


@contextmanager
def embedded_server(folder: Path, **env: str) -> Iterator[str]:
    """`audioconv serve` with its data in ``folder``/data on a free port; yields its URL."""
    port = free_port()
    settings = {"AUDIOCONV_DATA_DIR": str(folder / "data"), **env}
    with running([str(BIN / "audioconv"), "serve"], settings, port, folder / "server.log"):
        yield f"http://127.0.0.1:{port}"


def serve_function(
    source: str, target: str, kind: str, env: dict[str, str], port: int, log: Path
) -> Any:
    """Run ``functions/<source>/main.py`` under functions-framework, as it is deployed."""
    args = [
        str(BIN / "functions-framework"), "--source", f"functions/{source}/main.py",
        "--target", target, "--signature-type", kind, "--port", str(port),
    ]  # fmt: skip
    return running(args, env, port, log)


def fake_ffmpeg(folder: Path, body: str) -> str:
    """A stand-in ffmpeg: a shell script running ``body`` (use ``exec`` for one process)."""
    script = folder / "ffmpeg"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the whole process tree (server, workers, ffmpeg children) and reap it."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
