"""The embedded default as a user runs it: ``audioconv serve``, over real HTTP."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.audio import TAGS, decoded_duration, make_audio, probe, tags_of
from tests.support.blobs import mails_to
from tests.support.http_api import HttpApi
from tests.support.procs import BIN, free_port, kill_group, running

pytestmark = pytest.mark.slow
LONG_SECONDS = 600.0


def _serve(tmp_path: Path, port: int, **env: str) -> Any:
    env = {"AUDIOCONV_DATA_DIR": str(tmp_path / "data"), **env}
    return running([str(BIN / "audioconv"), "serve"], env, port, tmp_path / "server.log")


def test_sign_up_upload_convert_download_and_mail(tmp_path: Path) -> None:
    song = make_audio(tmp_path / "song.flac", 3.0, (), TAGS)
    port = free_port()
    with _serve(tmp_path, port):
        api = HttpApi(f"http://127.0.0.1:{port}", "erin")
        api.verify_email(tmp_path / "data" / "mail")  # the link mailed at sign-up
        created = api.upload(song, "mp3")
        task = api.wait(created["id"])
        assert task["status"] == "processed", task
        out = api.download(task["links"]["converted"], tmp_path / "song.mp3")
        mails = tmp_path / "data" / "mail"
        deadline = time.monotonic() + 30  # the notifier runs just after the conversion
        while not mails_to(mails, "erin@example.com", "is ready"):
            assert time.monotonic() < deadline, "no mail arrived"
            time.sleep(0.1)
    info = probe(out)
    assert info["format"]["format_name"] == "mp3"
    assert info["streams"][0]["codec_name"] == "mp3"
    assert abs(decoded_duration(out) - decoded_duration(song)) < 0.1
    assert abs(float(info["format"]["duration"]) - 3.0) < 0.1
    assert tags_of(info)["artist"] == TAGS["artist"]
    (msg,) = mails_to(tmp_path / "data" / "mail", "erin@example.com", "is ready")
    assert msg["To"] == "erin@example.com"
    assert "song.flac" in msg["Subject"]


def test_killed_mid_conversion_the_task_still_completes(tmp_path: Path) -> None:
    # Long enough that the conversion is still running when the server is killed
    # (seconds of encoding on an idle machine; checked below: no output was stored).
    long = make_audio(tmp_path / "long.flac", LONG_SECONDS, (), rate=44100, channels=2)
    port = free_port()
    # No report pass: the output's length is checked below by decoding it; the pass
    # would decode both long files once more.
    lean = {"AUDIOCONV_REPORT_PASS": "false"}
    with _serve(tmp_path, port, **lean) as proc:
        api = HttpApi(f"http://127.0.0.1:{port}", "frank")
        created = api.upload(long, "mp3")
        deadline = time.monotonic() + 60
        while api.task(created["id"])["status"] != "processing":
            assert time.monotonic() < deadline, "conversion never started"
            time.sleep(0.05)
        kill_group(proc, signal.SIGKILL)
    outputs = tmp_path / "data" / "blobs" / "outputs"
    assert not outputs.exists() or not any(p.is_file() for p in outputs.rglob("*"))
    with _serve(tmp_path, port, **lean):
        task = api.wait(created["id"], timeout=240)
        assert task["status"] == "processed", task
        out = api.download(task["links"]["converted"], tmp_path / "long.mp3")
    assert probe(out)["streams"][0]["codec_name"] == "mp3"
    assert abs(decoded_duration(out) - LONG_SECONDS) < 0.1
