"""Each function on its own under functions-framework, driven over HTTP as Pub/Sub push would."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller

from audioconv import bootstrap
from audioconv.adapters.inprocess_bus import InProcessBus
from audioconv.config import Settings
from audioconv.domain.model import TaskStatus
from audioconv.services import conversion, tasks
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.integration.test_adapters import _Inbox
from tests.support.audio import TAGS, decoded_duration, make_audio, probe
from tests.support.http_api import HttpApi
from tests.support.procs import free_port, serve_function
from tests.unit.fakes import FakeBus

pytestmark = pytest.mark.slow
SECRET = "functions-test-secret-key-0123456789"


@pytest.fixture
def env(tmp_path: Path, clean_postgres_url: str) -> dict[str, str]:
    """Settings for the function processes: PostgreSQL, blobs on disk (shared with the test)."""
    return {
        "AUDIOCONV_DATABASE_URL": clean_postgres_url,
        "AUDIOCONV_DATA_DIR": str(tmp_path / "data"),
        "AUDIOCONV_SECRET_KEY": SECRET,
    }


@pytest.fixture
def seeded(env: dict[str, str]) -> Iterator[Dependencies]:
    """The test's own view of the same database and blobs, with a bus that only records."""
    settings = Settings(
        database_url=env["AUDIOCONV_DATABASE_URL"],
        data_dir=Path(env["AUDIOCONV_DATA_DIR"]),
        secret_key=SECRET,
    )
    built = bootstrap.build(settings)
    # Drop the in-process bus, keep the rest (closing all would also stop the transcoder).
    assert isinstance(built.bus, InProcessBus)
    built.bus.close()
    deps = replace(built, bus=FakeBus(), on_close=[])
    yield deps
    built.close()


def push_envelope(data: dict[str, Any], message_id: str = "1") -> dict[str, Any]:
    return {
        "message": {
            "data": base64.b64encode(json.dumps(data).encode()).decode(),
            "attributes": {k: str(v) for k, v in data.items()},
            "messageId": message_id,
            "publishTime": "2026-11-28T00:00:00Z",
        },
        "subscription": "projects/local/subscriptions/test",
    }


def _serve(name: str, target: str, kind: str, env: dict[str, str], log: Path) -> Any:
    port = free_port()
    return port, serve_function(name, target, kind, env, port, log)


def _user_and_task(deps: Dependencies, song: Path, target: str) -> tuple[int, TaskRef]:
    from audioconv.services import auth

    user = auth.signup(deps, "gina", "gina@example.com", "password-1", "password-1")
    task = tasks.create_task(deps, user.id or 0, song, song.name, target)
    topic, data, _ = deps.bus.published[-1]  # type: ignore[attr-defined]
    assert topic == deps.settings.conversion_topic
    return task.id or 0, TaskRef.from_message(data)


def test_convert_worker_under_functions_framework(
    tmp_path: Path, env: dict[str, str], seeded: Dependencies
) -> None:
    song = make_audio(tmp_path / "song.wav", 2.0, (), TAGS)
    task_id, ref = _user_and_task(seeded, song, "m4a")
    port, server = _serve("convert_worker", "convert", "cloudevent",
                                  {**env, "AUDIOCONV_MAIL_BACKEND": "console"},
                                  tmp_path / "worker.log")  # fmt: skip
    envelope = push_envelope({"taskId": ref.task_id, "revision": ref.revision})
    with server:
        response = requests.post(f"http://127.0.0.1:{port}/", json=envelope, timeout=60)
        assert response.status_code == 200, (tmp_path / "worker.log").read_text()
        # At-least-once: the same push again is acknowledged and changes nothing.
        again = requests.post(f"http://127.0.0.1:{port}/", json=envelope, timeout=60)
        assert again.status_code == 200
        # A push that is not ours is acknowledged too (redelivering it can never help).
        junk = push_envelope({"hello": "world"}, "2")
        assert requests.post(f"http://127.0.0.1:{port}/", json=junk, timeout=10).ok
    with seeded.uow() as uow:
        task = uow.tasks.get(task_id)
        assert task is not None
        assert (task.status, task.attempts) == (TaskStatus.PROCESSED, 1)
        assert task.output_key
    out = tmp_path / "out.m4a"
    seeded.blobs.download_to(task.output_key, out)
    assert probe(out)["streams"][0]["codec_name"] == "aac"
    assert abs(decoded_duration(out) - decoded_duration(song)) < 0.1


def test_notify_under_functions_framework_sends_one_mail(
    tmp_path: Path, env: dict[str, str], seeded: Dependencies
) -> None:
    song = make_audio(tmp_path / "song.ogg", 1.0, ("-c:a", "libvorbis"))
    task_id, ref = _user_and_task(seeded, song, "wav")
    conversion.convert(seeded, ref)
    topic, data, _ = seeded.bus.published[-1]  # type: ignore[attr-defined]
    assert topic == seeded.settings.finished_topic

    inbox = _Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    smtp_env = {**env, "AUDIOCONV_MAIL_BACKEND": "smtp", "AUDIOCONV_SMTP_HOST": "127.0.0.1",
                "AUDIOCONV_SMTP_PORT": str(smtp_port),
                "AUDIOCONV_PUBLIC_URL": "https://audio.example.com"}  # fmt: skip
    port, server = _serve("notify", "notify", "cloudevent", smtp_env,
                                  tmp_path / "notify.log")  # fmt: skip
    try:
        with server:
            for message_id in ("10", "11"):  # a redelivery must not mail twice
                response = requests.post(
                    f"http://127.0.0.1:{port}/", json=push_envelope(data, message_id), timeout=30
                )
                assert response.status_code == 200, (tmp_path / "notify.log").read_text()
    finally:
        controller.stop()
    (msg,) = inbox.messages
    assert msg["To"] == "gina@example.com"
    assert "ready as wav" in msg["Subject"]
    assert f"https://audio.example.com/api/tasks/{task_id}/converted" in msg.get_payload()


def test_upload_api_under_functions_framework(tmp_path: Path, env: dict[str, str]) -> None:
    song = make_audio(tmp_path / "song.mp3", 1.5, ("-c:a", "libmp3lame"))
    port, server = _serve("upload_api", "api", "http", env, tmp_path / "api.log")
    base = f"http://127.0.0.1:{port}"
    with server:
        api = HttpApi(base, "hal")
        created = api.post_file(song, "opus")
        assert created.status_code == 201, created.text
        bad = requests.post(f"{base}/api/tasks", headers=api.headers, timeout=10,
                            data={"newFormat": "opus"})  # fmt: skip
        assert bad.status_code == 400 and "fileName" in bad.json()["message"]
        task = api.wait(created.json()["id"], timeout=30)
        assert task["status"] == "processed"
        out = tmp_path / "song.opus"
        api.download(task["links"]["converted"], out)
    assert probe(out)["streams"][0]["codec_name"] == "opus"
