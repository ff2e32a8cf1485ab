"""The embedded default as a user runs it: ``audioconv serve``, over real HTTP."""

from __future__ import annotations

import email
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.api import wait_for
from tests.support.audio import TAGS, decoded_duration, make_audio, probe, tags_of
from tests.support.procs import BIN, free_port, kill_group, running

pytestmark = pytest.mark.slow


class Http:
    def __init__(self, base: str) -> None:
        self.base = base
        self.headers: dict[str, str] = {}

    def signup(self, name: str) -> None:
        body = {"username": name, "email": f"{name}@example.com",
                "password1": "s3cret-pass", "password2": "s3cret-pass"}  # fmt: skip
        response = requests.post(f"{self.base}/api/auth/signup", json=body, timeout=10)
        assert response.status_code == 201, response.text
        login = requests.post(f"{self.base}/api/auth/login", timeout=10,
                              json={"username": name, "password": "s3cret-pass"})  # fmt: skip
        self.headers = {"Authorization": f"Bearer {login.json()['token']}"}

    def upload(self, path: Path, new_format: str) -> dict[str, Any]:
        with path.open("rb") as fh:
            response = requests.post(
                f"{self.base}/api/tasks", headers=self.headers, timeout=60,
                files={"fileName": (path.name, fh)}, data={"newFormat": new_format},
            )  # fmt: skip
        assert response.status_code == 201, response.text
        return dict(response.json())

    def task(self, task_id: int) -> dict[str, Any]:
        response = requests.get(f"{self.base}/api/tasks/{task_id}", headers=self.headers,
                                timeout=10)  # fmt: skip
        return dict(response.json())

    def download(self, url: str, dest: Path) -> Path:
        with requests.get(f"{self.base}{url}", headers=self.headers, stream=True,
                          timeout=60) as response:  # fmt: skip
            assert response.status_code == 200, response.text
            with dest.open("wb") as out:
                for chunk in response.iter_content(1 << 16):
                    out.write(chunk)
        return dest


def _serve(tmp_path: Path, port: int) -> Any:
    env = {"AUDIOCONV_DATA_DIR": str(tmp_path / "data")}
    return running([str(BIN / "audioconv"), "serve"], env, port, tmp_path / "server.log")


def test_sign_up_upload_convert_download_and_mail(tmp_path: Path) -> None:
    song = make_audio(tmp_path / "song.flac", 3.0, (), TAGS)
    port = free_port()
    with _serve(tmp_path, port):
        api = Http(f"http://127.0.0.1:{port}")
        api.signup("erin")
        created = api.upload(song, "mp3")
        task = wait_for(lambda: api.task(created["id"]), timeout=60)
        assert task["status"] == "processed", task
        out = api.download(task["links"]["converted"], tmp_path / "song.mp3")
    info = probe(out)
    assert info["format"]["format_name"] == "mp3"
    assert info["streams"][0]["codec_name"] == "mp3"
    assert abs(decoded_duration(out) - decoded_duration(song)) < 0.1
    assert abs(float(info["format"]["duration"]) - 3.0) < 0.1
    assert tags_of(info)["artist"] == TAGS["artist"]
    (mail,) = (tmp_path / "data" / "mail").glob("*.eml")
    msg = email.message_from_bytes(mail.read_bytes())
    assert msg["To"] == "erin@example.com"
    assert "song.flac" in msg["Subject"]


def test_killed_mid_conversion_the_task_still_completes(tmp_path: Path) -> None:
    # Long enough that the conversion is still running when the server is killed.
    long = make_audio(tmp_path / "long.flac", 1800.0, (), rate=44100, channels=2)
    port = free_port()
    with _serve(tmp_path, port) as proc:
        api = Http(f"http://127.0.0.1:{port}")
        api.signup("frank")
        created = api.upload(long, "mp3")
        deadline = time.monotonic() + 60
        while api.task(created["id"])["status"] != "processing":
            assert time.monotonic() < deadline, "conversion never started"
            time.sleep(0.05)
        kill_group(proc, signal.SIGKILL)
    with _serve(tmp_path, port):
        task = wait_for(lambda: api.task(created["id"]), timeout=240)
        assert task["status"] == "processed", task
        out = api.download(task["links"]["converted"], tmp_path / "long.mp3")
    assert probe(out)["streams"][0]["codec_name"] == "mp3"
    assert abs(decoded_duration(out) - 1800.0) < 0.1
