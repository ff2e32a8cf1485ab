"""The three functions under functions-framework, driven as Pub/Sub push and clients would.

In process, as functions-framework's own tests do: ``create_app(target, source)``
loads ``functions/<name>/main.py`` and its test client posts the HTTP request or
the push. One upload goes from the API function through the queue to the worker
function, and its announcement to the notifier. One smoke test runs the API
function as deployed, in its own functions-framework process.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import functions_framework
import pytest
import requests
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select

from audioconv import bootstrap
from audioconv.adapters.inprocess_bus import InProcessBus
from audioconv.adapters.orm import messages
from audioconv.config import Settings
from audioconv.domain.model import TaskStatus
from audioconv.services import conversion, tasks
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.support.api import ApiClient
from tests.support.audio import TAGS, decoded_duration, make_audio, probe
from tests.support.blobs import VERIFY_SUBJECT, mails_to
from tests.support.http_api import HttpApi
from tests.support.procs import ROOT, free_port, serve_function
from tests.support.smtp import Inbox
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


def push_envelope(
    data: dict[str, Any], message_id: str = "1", attributes: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "message": {
            "data": base64.b64encode(json.dumps(data).encode()).decode(),
            "attributes": attributes or {k: str(v) for k, v in data.items()},
            "messageId": message_id,
            "publishTime": "2026-11-28T00:00:00Z",
        },
        "subscription": "projects/local/subscriptions/test",
    }


def function(
    name: str, target: str, kind: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> FlaskClient:
    """``functions/<name>/main.py`` loaded by functions-framework in this process, with
    ``env`` as its settings (read when the function builds its dependencies)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    source = ROOT / "functions" / name / "main.py"
    client = functions_framework.create_app(target, str(source), kind).test_client()
    # As gunicorn (the deployed server) says: the body ends where the input ends. The
    # framework reads the rest of the body after the API has streamed it all in.
    client.environ_base["wsgi.input_terminated"] = True
    return client


def _serve(name: str, target: str, kind: str, env: dict[str, str], log: Path) -> Any:
    port = free_port()
    return port, serve_function(name, target, kind, env, port, log)


def _user_and_task(deps: Dependencies, song: Path, target: str) -> tuple[int, TaskRef]:
    from audioconv.services import auth, verification

    user = auth.signup(deps, "gina", "gina@example.com", "password-1", "password-1")
    verification.verify(deps, verification.link_token(deps, user))  # completion mails go
    task = tasks.create_task(deps, user.id or 0, song, song.name, target)
    topic, data, _ = deps.bus.published[-1]  # type: ignore[attr-defined]
    assert topic == deps.settings.conversion_topic
    return task.id or 0, TaskRef.from_message(data)


def test_convert_worker_in_process(
    tmp_path: Path, env: dict[str, str], seeded: Dependencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    song = make_audio(tmp_path / "song.wav", 2.0, (), TAGS)
    task_id, ref = _user_and_task(seeded, song, "m4a")
    worker = function("convert_worker", "convert", "cloudevent",
                      {**env, "AUDIOCONV_EVENT_BACKEND": "queue"}, monkeypatch)  # fmt: skip
    envelope = push_envelope({"taskId": ref.task_id, "revision": ref.revision})
    response = worker.post("/", json=envelope)
    assert response.status_code == 200, response.text
    # At-least-once: the same push again is acknowledged and changes nothing.
    assert worker.post("/", json=envelope).status_code == 200
    # A push that is not ours is acknowledged too (redelivering it can never help).
    assert worker.post("/", json=push_envelope({"hello": "world"}, "2")).status_code == 200
    with seeded.uow() as uow:
        task = uow.tasks.get(task_id)
        assert task is not None
        assert (task.status, task.attempts) == (TaskStatus.PROCESSED, 1)
        assert task.output_key
    out = tmp_path / "out.m4a"
    seeded.blobs.download_to(task.output_key, out)
    assert probe(out)["streams"][0]["codec_name"] == "aac"
    assert abs(decoded_duration(out) - decoded_duration(song)) < 0.1


def _queued(env: dict[str, str], topic: str) -> list[dict[str, Any]]:
    """The data of the messages queued on ``topic`` (the embedded queue's table)."""
    return [data for data, _ in _queued_with_attributes(env, topic)]


def _queued_with_attributes(
    env: dict[str, str], topic: str
) -> list[tuple[dict[str, Any], dict[str, str]]]:
    engine = create_engine(env["AUDIOCONV_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(messages.c.data, messages.c.attributes).where(messages.c.topic == topic)
            )
            return [(dict(row.data), dict(row.attributes)) for row in rows]
    finally:
        engine.dispose()


def test_one_upload_through_the_three_functions_in_process(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API function queues the sign-up's verification mail, which the notifier
    sends and whose link the API follows; it stores the upload and queues its conversion
    request; pushed to the worker function, it is converted and announced; pushed to the
    notifier, it is mailed to its owner."""
    song = make_audio(tmp_path / "song.flac", 1.5, (), TAGS)
    settings = {**env, "AUDIOCONV_EVENT_BACKEND": "queue", "AUDIOCONV_MAIL_BACKEND": "folder",
                "AUDIOCONV_PUBLIC_URL": "https://audio.example.com"}  # fmt: skip
    folder = Path(env["AUDIOCONV_DATA_DIR"]) / "mail"
    api = ApiClient(function("upload_api", "api", "http", settings, monkeypatch), "ivy")
    ((account_mail, attributes),) = _queued_with_attributes(env, Settings().finished_topic)
    assert account_mail == {"userId": api.user_id} and attributes["accountMail"] == "verify-email"
    notifier = function("notify", "notify", "cloudevent", settings, monkeypatch)
    pushed = notifier.post("/", json=push_envelope(account_mail, "2", attributes))
    assert pushed.status_code == 200
    assert "https://audio.example.com/api/auth/verify-email?token=" in str(
        mails_to(folder, "ivy@example.com", VERIFY_SUBJECT)[0].get_payload(decode=True)
    )
    api.verify_email(folder)
    created = api.upload(song, "mp3")
    assert created.status_code == 201, created.get_json()
    task_id = created.get_json()["id"]
    assert api.get(f"/api/tasks/{task_id}").get_json()["status"] == "uploaded"
    (request,) = _queued(env, Settings().conversion_topic)
    assert request == {"taskId": task_id, "revision": 1}

    worker = function("convert_worker", "convert", "cloudevent", settings, monkeypatch)
    assert worker.post("/", json=push_envelope(request)).status_code == 200
    task = api.get(f"/api/tasks/{task_id}").get_json()
    assert (task["status"], task["output"]["codec"]) == ("processed", "mp3")
    (finished,) = [m for m in _queued(env, Settings().finished_topic) if "taskId" in m]

    assert notifier.post("/", json=push_envelope(finished, "3")).status_code == 200
    (mail,) = mails_to(folder, "ivy@example.com", "ready as")
    text = mail.as_string()
    assert "To: ivy@example.com" in text and "ready as mp3" in text
    assert f"https://audio.example.com/api/tasks/{task_id}/converted" in text


def test_notify_in_process_sends_one_mail(
    tmp_path: Path, env: dict[str, str], seeded: Dependencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    song = make_audio(tmp_path / "song.ogg", 1.0, ("-c:a", "libvorbis"))
    task_id, ref = _user_and_task(seeded, song, "wav")
    conversion.convert(seeded, ref)
    published = seeded.bus.published  # type: ignore[attr-defined]
    # The announcement; the report pass's request (its own topic) may follow it.
    (data,) = [
        d for topic, d, _ in published if topic == seeded.settings.finished_topic and "taskId" in d
    ]

    smtp_port = free_port()
    inbox = Inbox(smtp_port)
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    smtp_env = {**env, "AUDIOCONV_MAIL_BACKEND": "smtp", "AUDIOCONV_SMTP_HOST": "127.0.0.1",
                "AUDIOCONV_SMTP_PORT": str(smtp_port),
                "AUDIOCONV_PUBLIC_URL": "https://audio.example.com"}  # fmt: skip
    notifier = function("notify", "notify", "cloudevent", smtp_env, monkeypatch)
    try:
        for message_id in ("10", "11"):  # a redelivery must not mail twice
            response = notifier.post("/", json=push_envelope(data, message_id))
            assert response.status_code == 200, response.text
    finally:
        controller.stop()
    (msg,) = inbox.mails
    assert msg["To"] == "gina@example.com"
    assert "ready as wav" in msg["Subject"]
    assert f"https://audio.example.com/api/tasks/{task_id}/converted" in msg.get_payload()


def test_upload_api_under_functions_framework(tmp_path: Path, env: dict[str, str]) -> None:
    """The smoke test: the API function as deployed, in its own process."""
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


def test_first_requests_at_once_build_one_set_of_adapters(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A threaded server takes several first requests at once: they share one build
    (two at once used to map the ORM twice, and the loser answered 500)."""
    app = function("upload_api", "api", "http", env, monkeypatch)
    builds: list[Dependencies] = []
    real_build = bootstrap.build

    def slow_build(settings: Settings | None = None) -> Dependencies:
        time.sleep(0.3)  # every thread arrives while the first is still building
        builds.append(real_build(settings))
        return builds[-1]

    monkeypatch.setattr(bootstrap, "build", slow_build)
    start = threading.Barrier(6)

    def sign_up(n: int) -> int:
        body = {"username": f"ivy{n}", "email": f"ivy{n}@example.com",
                "password1": "password-1", "password2": "password-1"}  # fmt: skip
        client = app.application.test_client()
        client.environ_base.update(app.environ_base)
        start.wait()
        return client.post("/api/auth/signup", json=body).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(sign_up, range(6)))
    assert codes == [201] * 6
    assert len(builds) == 1
    builds[0].close()
