"""Signed webhooks end to end: real database, ffmpeg, bus, and a real HTTP receiver.

The receiver checks each event's signature as docs/webhooks.md tells users to;
retries after 500s and timeouts go through the event bus and show on the task.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import HTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from flask.testing import FlaskClient
from sqlalchemy import create_engine

from audioconv import bootstrap
from audioconv.adapters.webhook_sender import HttpWebhookSender
from audioconv.config import Settings
from audioconv.domain.model import as_utc
from audioconv.entrypoints import schemas
from audioconv.entrypoints.api import create_app
from audioconv.services import recovery
from audioconv.services.dependencies import Dependencies
from tests.support.api import ApiClient
from tests.support.audio import make_audio
from tests.support.blobs import mails_to
from tests.support.receiver import Received, Receiver, webhook_receiver


def _settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "secret_key": "test-secret-key-that-is-long-enough-for-hs256",
        "max_concurrent_conversions": 1,
        "mail_backend": "folder",
        "webhook_allow_private": True,  # the receiver is on this machine
        "webhook_backoff_seconds": 0.2,
        "webhook_timeout_seconds": 1.0,
        # No report pass, as the suite's settings fixture: these tests check deliveries,
        # and a report run between two attempts adds its figures to the later body.
        "report_pass": False,
        # Every revision's event at once: these tests check deliveries; one notification
        # per task per window is tested in test_accounts.py (finding 8).
        "notify_window_seconds": 0,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def wired(tmp_path: Path, database_url: str) -> Iterator[Dependencies]:
    built = bootstrap.build(_settings(tmp_path, database_url))
    yield built
    built.close()


@pytest.fixture
def api(wired: Dependencies) -> ApiClient:
    return ApiClient(create_app(wired).test_client())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def song(tmp_path: Path) -> Path:
    return make_audio(tmp_path / "song.wav", 1.0)


def _upload(api: ApiClient, song: Path, **fields: str) -> dict[str, Any]:
    with song.open("rb") as fh:
        response = api.client.post(
            "/api/tasks", headers=api.headers, content_type="multipart/form-data",
            data={"fileName": (fh, song.name), "newFormat": "mp3", **fields},
        )  # fmt: skip
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def _put_profile(api: ApiClient, **changes: Any) -> Any:
    return api.client.put("/api/me", json=changes, headers=api.headers)


def _secret(api: ApiClient) -> str:
    response = api.get("/api/me/webhook-secret")
    assert response.status_code == 200
    return str(response.get_json()["secret"])


def _verifies(secret: str, request: Received, tolerance: int = 300) -> bool:
    """The receiver's check, written as docs/webhooks.md shows it (stdlib only)."""
    fields = dict(part.split("=", 1) for part in request.headers["Audioconv-Signature"].split(","))
    timestamp = int(fields["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    signed = f"{timestamp}.".encode() + request.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


def _deliveries(api: ApiClient, task_id: int, final: int, timeout: float = 60) -> list[Any]:
    """The task's delivery attempts, once ``final`` of them are delivered or failed."""
    deadline = time.monotonic() + timeout
    while True:
        attempts = api.get(f"/api/tasks/{task_id}").get_json()["webhookDeliveries"]
        if sum(a["result"] in ("delivered", "failed") for a in attempts) >= final:
            return list(attempts)
        if time.monotonic() > deadline:
            raise AssertionError(f"no final delivery in {timeout}s: {attempts}")
        time.sleep(0.05)


def test_profile_webhook_gets_a_signed_event(
    api: ApiClient, receiver: Receiver, song: Path
) -> None:
    assert _put_profile(api, webhookUrl=receiver.url).status_code == 200
    assert api.get("/api/me").get_json()["webhookUrl"] == receiver.url
    task = _upload(api, song)
    (request,) = receiver.wait_for(1)
    secret = _secret(api)
    assert secret.startswith("whsec_")
    assert _verifies(secret, request)
    assert not _verifies(secret + "x", request)
    event = json.loads(request.body)
    assert event["type"] == "task.processed"
    assert event["id"] == request.headers["Audioconv-Event-Id"]
    assert request.headers["Audioconv-Timestamp"] in request.headers["Audioconv-Signature"]
    shown = event["data"]["task"]
    assert shown["id"] == task["id"] and shown["status"] == "processed"
    assert shown["output"]["codec"] == "mp3"
    assert request.path == "/hooks/audioconv"
    (attempt,) = _deliveries(api, task["id"], 1)
    assert attempt["result"] == "delivered" and attempt["statusCode"] == 200
    assert attempt["eventId"] == event["id"] and attempt["nextAttemptAt"] is None
    # The answers are what the OpenAPI document says.
    schemas.Task.model_validate(api.get(f"/api/tasks/{task['id']}").get_json())
    schemas.Profile.model_validate(api.get("/api/me").get_json())
    schemas.WebhookSecret.model_validate(api.get("/api/me/webhook-secret").get_json())


def test_failed_task_sends_task_failed(api: ApiClient, receiver: Receiver) -> None:
    assert _put_profile(api, webhookUrl=receiver.url).status_code == 200
    ticket = _direct_upload(api, "notes.mp3", b"these bytes are no audio at all" * 10)
    (request,) = receiver.wait_for(1)
    event = json.loads(request.body)
    assert event["type"] == "task.failed"
    assert event["data"]["task"]["status"] == "failed" and event["data"]["task"]["error"]
    assert _verifies(_secret(api), request)
    task = api.get(ticket["status"]).get_json()
    assert _deliveries(api, task["id"], 1)[0]["result"] == "delivered"


def _direct_upload(api: ApiClient, name: str, data: bytes, **fields: str) -> Any:
    ticket = api.client.post(
        "/api/uploads", headers=api.headers, json={"fileName": name, "newFormat": "mp3", **fields}
    ).get_json()
    path = ticket["url"].split("localhost:8080", 1)[-1]
    put = api.client.put(path, data=data, headers=ticket["headers"])
    assert put.status_code == 200, put.get_json()
    return ticket


def test_500_and_timeout_are_retried_with_the_same_event_id(
    api: ApiClient, receiver: Receiver, song: Path
) -> None:
    receiver.script = [500, "hang", 200]
    task = _upload(api, song, webhookUrl=receiver.url)
    attempts = _deliveries(api, task["id"], 1)
    assert [a["result"] for a in attempts] == ["retrying", "retrying", "delivered"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert attempts[0]["statusCode"] == 500 and attempts[0]["error"] is None
    assert attempts[1]["statusCode"] is None and "timed out" in attempts[1]["error"]
    assert attempts[2]["statusCode"] == 200
    assert all(a["nextAttemptAt"] > a["at"] for a in attempts[:2])
    requests = receiver.wait_for(3)
    assert len({r.headers["Audioconv-Event-Id"] for r in requests}) == 1
    assert len({r.body for r in requests}) == 1  # the same event, byte for byte
    secret = _secret(api)
    assert all(_verifies(secret, r) for r in requests)


def test_attempts_stop_at_the_limit(
    tmp_path: Path, database_url: str, receiver: Receiver, song: Path
) -> None:
    settings = _settings(tmp_path, database_url, webhook_max_attempts=2)
    deps = bootstrap.build(settings)
    try:
        api = ApiClient(create_app(deps).test_client())
        receiver.script = [503, 502, 500]
        task = _upload(api, song, webhookUrl=receiver.url)
        attempts = _deliveries(api, task["id"], 1)
        assert [(a["statusCode"], a["result"]) for a in attempts] == [
            (503, "retrying"), (502, "failed")
        ]  # fmt: skip
        assert attempts[1]["nextAttemptAt"] is None
    finally:
        deps.close()
    assert len(receiver.requests) == 2


def test_a_4xx_is_not_retried(api: ApiClient, receiver: Receiver, song: Path) -> None:
    receiver.script = [410]
    task = _upload(api, song, webhookUrl=receiver.url)
    (attempt,) = _deliveries(api, task["id"], 1)
    assert attempt["statusCode"] == 410 and attempt["result"] == "failed"


def test_task_url_wins_over_the_profile_and_put_changes_it(api: ApiClient, song: Path) -> None:
    with webhook_receiver("/profile") as profile, webhook_receiver("/task") as own:
        assert _put_profile(api, webhookUrl=profile.url).status_code == 200
        task = _upload(api, song, webhookUrl=own.url)
        assert task["webhookUrl"] == own.url
        own.wait_for(1)
        changed = api.client.put(f"/api/tasks/{task['id']}", headers=api.headers,
                                 json={"newFormat": "ogg", "webhookUrl": None})  # fmt: skip
        assert changed.status_code == 200 and changed.get_json()["webhookUrl"] is None
        (request,) = profile.wait_for(1)
        event = json.loads(request.body)
        assert event["id"] == f"evt_{task['id']}_2"
        assert event["data"]["task"]["newFormat"] == "ogg"
        assert len(own.requests) == 1


def test_rotated_secret_signs_from_then_on(api: ApiClient, receiver: Receiver, song: Path) -> None:
    assert _put_profile(api, webhookUrl=receiver.url).status_code == 200
    old = _secret(api)
    assert _secret(api) == old  # stable until rotated
    rotated = api.client.post("/api/me/webhook-secret/rotate", headers=api.headers)
    assert rotated.status_code == 200
    new = rotated.get_json()["secret"]
    assert new != old and _secret(api) == new
    _upload(api, song)
    (request,) = receiver.wait_for(1)
    assert _verifies(new, request) and not _verifies(old, request)


def test_email_stays_on_by_default_and_can_be_turned_off(
    api: ApiClient, wired: Dependencies, receiver: Receiver, song: Path
) -> None:
    mail = wired.settings.data_dir / "mail"
    profile = api.get("/api/me").get_json()
    assert profile["emailNotifications"] is True and profile["webhookUrl"] is None
    api.verify_email(mail)  # the sign-up's verification mail: completion mails follow
    first = _upload(api, song)
    api.wait(first["id"])
    _wait_for_files(mail, 2)
    changed = _put_profile(api, emailNotifications=False, webhookUrl=receiver.url)
    assert changed.get_json()["emailNotifications"] is False
    second = _upload(api, song)
    receiver.wait_for(1)
    _deliveries(api, second["id"], 1)
    assert len(mails_to(mail, api.email, "is ready")) == 1  # the first task's mail only


def _wait_for_files(folder: Path, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not folder.exists() or len(list(folder.iterdir())) < count:
        assert time.monotonic() < deadline, f"no {count} files in {folder}"
        time.sleep(0.05)


def test_direct_upload_carries_its_webhook(api: ApiClient, receiver: Receiver, song: Path) -> None:
    _direct_upload(api, song.name, song.read_bytes(), webhookUrl=receiver.url)
    (request,) = receiver.wait_for(1)
    event = json.loads(request.body)
    assert event["type"] == "task.processed"
    assert event["data"]["task"]["webhookUrl"] == receiver.url
    assert event["data"]["task"]["fileName"] == song.name


def test_raw_upload_takes_webhook_url_in_the_query(
    api: ApiClient, receiver: Receiver, song: Path
) -> None:
    response = api.client.post(
        "/api/tasks", data=song.read_bytes(), headers=api.headers,
        content_type="application/octet-stream",
        query_string={"fileName": song.name, "newFormat": "ogg", "webhookUrl": receiver.url},
    )  # fmt: skip
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["webhookUrl"] == receiver.url
    (request,) = receiver.wait_for(1)
    assert json.loads(request.body)["data"]["task"]["newFormat"] == "ogg"
    refused = api.client.post(
        "/api/tasks", data=song.read_bytes(), headers=api.headers,
        content_type="application/octet-stream",
        query_string={"fileName": song.name, "newFormat": "ogg", "webhookUrl": "gopher://x"},
    )  # fmt: skip
    assert refused.status_code == 400 and "webhookUrl" in refused.get_json()["message"]


# --- what is refused -------------------------------------------------------------------

REFUSED = [
    ("http://127.0.0.1:9/hook", "loopback"),
    ("http://localhost:9/hook", "loopback"),  # a name that resolves to 127.0.0.1
    ("http://[::1]:9/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://169.254.169.254/computeMetadata/v1/", "link-local"),
    ("http://10.1.2.3/hook", "private"),
    ("http://192.168.0.1/hook", "private"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://240.0.0.1/hook", "reserved"),
]


@pytest.fixture
def guarded(tmp_path: Path, database_url: str) -> Iterator[FlaskClient]:
    """The API with the guard as in the cloud: no private addresses."""
    deps = bootstrap.build(_settings(tmp_path, database_url, webhook_allow_private=False))
    yield create_app(deps).test_client()
    deps.close()


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_internal_addresses_are_refused_at_registration(
    guarded: FlaskClient, url: str, reason: str
) -> None:
    api = ApiClient(guarded)
    response = _put_profile(api, webhookUrl=url)
    assert response.status_code == 400
    assert reason in response.get_json()["message"]
    assert api.get("/api/me").get_json()["webhookUrl"] is None


def test_refused_url_makes_no_task(guarded: FlaskClient, song: Path) -> None:
    api = ApiClient(guarded)
    with song.open("rb") as fh:
        response = guarded.post(
            "/api/tasks", headers=api.headers, content_type="multipart/form-data",
            data={"fileName": (fh, song.name), "newFormat": "mp3",
                  "webhookUrl": "http://169.254.169.254/"},
        )  # fmt: skip
    assert response.status_code == 400
    assert "link-local" in response.get_json()["message"]
    assert api.get("/api/tasks").get_json() == []


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/hook", "http"),
        ("https://user:secret@example.com/hook", "user name or password"),
        ("https:///hook", "host"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com/" + "a" * 2100, "at most"),
        ("https://no-such-host.invalid/hook", "resolve"),
    ],
)
def test_malformed_urls_are_refused(api: ApiClient, url: str, words: str) -> None:
    response = _put_profile(api, webhookUrl=url)
    assert response.status_code == 400
    assert words in response.get_json()["message"]


def test_profile_changes_are_checked(api: ApiClient) -> None:
    assert _put_profile(api, emailNotifications="no").status_code == 400
    assert _put_profile(api, webhookUrl=5).status_code == 400
    assert _put_profile(api, password="x").status_code == 400
    assert api.client.put("/api/me", data="[]", headers=api.headers,
                          content_type="application/json").status_code == 400  # fmt: skip
    assert api.client.get("/api/me").status_code == 401


def test_http_is_refused_in_the_cloud(tmp_path: Path, database_url: str) -> None:
    settings = _settings(tmp_path, database_url, webhook_allow_http=False)
    assert not settings.resolved_webhook_allow_http
    assert _settings(tmp_path, database_url).resolved_webhook_allow_http  # embedded default
    deps = bootstrap.build(settings)
    try:
        api = ApiClient(create_app(deps).test_client())
        response = _put_profile(api, webhookUrl="http://example.com/hook")
        assert response.status_code == 400
        assert "https" in response.get_json()["message"]
    finally:
        deps.close()


def test_guard_is_checked_again_at_delivery(
    api: ApiClient, wired: Dependencies, receiver: Receiver, song: Path
) -> None:
    """Allowed when registered, refused when sent (as if its DNS changed since)."""
    assert _put_profile(api, webhookUrl=receiver.url).status_code == 200
    wired.webhooks = HttpWebhookSender(allow_http=True, allow_private=False)
    task = _upload(api, song)
    (attempt,) = _deliveries(api, task["id"], 1)
    assert attempt["result"] == "failed" and attempt["statusCode"] is None
    assert attempt["error"].startswith("refused") and "loopback" in attempt["error"]
    assert receiver.requests == []


def test_https_goes_to_the_checked_address_and_verifies_the_host_name(tmp_path: Path) -> None:
    """The connection goes to the address the guard checked, while TLS still checks
    the certificate against the URL's host name (SNI and verification)."""
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    sender = HttpWebhookSender(allow_private=True, ca_certs=str(bundle))
    with webhook_receiver(tls=ca.issue_cert("localhost"), host="localhost") as receiver:
        assert receiver.url.startswith("https://localhost:")
        outcome = sender.post(receiver.url, b"{}", {"Content-Type": "application/json"})
        assert outcome.status == 200 and outcome.delivered
        (request,) = receiver.requests
        assert request.headers["Host"] == receiver.url.split("/")[2]
    with webhook_receiver(tls=ca.issue_cert("elsewhere.example"), host="localhost") as other:
        outcome = sender.post(other.url, b"{}", {"Content-Type": "application/json"})
        assert outcome.status is None and outcome.error and "TLS error" in outcome.error
        assert outcome.retryable and other.requests == []
    with webhook_receiver(tls=ca.issue_cert("localhost"), host="localhost") as untrusted:
        plain = HttpWebhookSender(allow_private=True)  # the system's CAs only
        outcome = plain.post(untrusted.url, b"{}", {})
        assert outcome.error and "certificate" in outcome.error


def test_no_connection_is_tried_again() -> None:
    with webhook_receiver() as closed:
        url = closed.url
    sender = HttpWebhookSender(allow_http=True, allow_private=True)
    outcome = sender.post(url, b"{}", {})
    assert outcome.error and "could not connect" in outcome.error and outcome.retryable


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.script = [302]
    sender = HttpWebhookSender(allow_http=True, allow_private=True)
    outcome = sender.post(receiver.url, b"{}", {"Content-Type": "application/json"})
    assert outcome.status == 302 and not outcome.delivered and not outcome.retryable
    assert len(receiver.requests) == 1


# --- the embedded process tree's queue ---------------------------------------------------


def test_queue_holds_an_attempt_until_its_time(wired: Dependencies, tmp_path: Path) -> None:
    from sqlalchemy import select

    from audioconv.adapters.orm import messages
    from audioconv.adapters.sql_queue import SqlQueueBus
    from audioconv.domain.model import utcnow

    engine = create_engine(wired.settings.resolved_database_url)
    try:
        later = utcnow() + timedelta(hours=1)
        SqlQueueBus(engine).publish("hooks", {"taskId": 1}, {"notBefore": later.isoformat()})
        SqlQueueBus(engine).publish("hooks", {"taskId": 2}, {})
        with engine.connect() as conn:
            rows = conn.execute(select(messages.c.data, messages.c.available_at)).all()
    finally:
        engine.dispose()
    due = {row.data["taskId"]: row.available_at for row in rows}
    assert as_utc(due[1]) == later and as_utc(due[2]) < later


def test_retried_through_the_queue(tmp_path: Path, database_url: str, receiver: Receiver,
                                   song: Path) -> None:  # fmt: skip
    settings = _settings(tmp_path, database_url, event_backend="queue")
    deps = bootstrap.build(settings)
    consumer = bootstrap.queue_consumer(deps)
    consumer.start()
    try:
        api = ApiClient(create_app(deps).test_client())
        receiver.script = [503]
        task = _upload(api, song, webhookUrl=receiver.url)
        attempts = _deliveries(api, task["id"], 1)
        assert [(a["statusCode"], a["result"]) for a in attempts] == [
            (503, "retrying"), (200, "delivered")
        ]  # fmt: skip
        requests = receiver.wait_for(2)
        assert requests[0].body == requests[1].body
        assert all(_verifies(_secret(api), r) for r in requests)
    finally:
        deps.close()


# --- the docs' receiver ------------------------------------------------------------------


def _docs_receiver(secret: str) -> dict[str, Any]:
    """The receiver example of docs/webhooks.md, run as written (but for its last line,
    which serves on port 8000: the test serves it on a free port instead)."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    body, last = code.rstrip().rsplit("\n", 1)
    assert last.startswith("HTTPServer(")
    namespace: dict[str, Any] = {}
    exec(compile(body, "docs/webhooks.md", "exec"), namespace)
    namespace["SECRET"] = secret
    return namespace


def test_the_docs_receiver_accepts_our_events_and_refuses_forgeries(
    api: ApiClient, song: Path
) -> None:
    docs = _docs_receiver(_secret(api))
    server = HTTPServer(("127.0.0.1", 0), docs["Hook"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        assert _put_profile(api, webhookUrl=url).status_code == 200
        task = _upload(api, song)
        (attempt,) = _deliveries(api, task["id"], 1)
        assert attempt["statusCode"] == 204 and attempt["result"] == "delivered"
        assert docs["seen"] == {f"evt_{task['id']}_1"}
        forged = requests.post(url, data=b'{"id":"evt_x"}', timeout=10, headers={
            "Audioconv-Signature": f"t={int(time.time())},v1={'0' * 64}",
        })  # fmt: skip
        assert forged.status_code == 400 and docs["seen"] == {f"evt_{task['id']}_1"}
    finally:
        server.shutdown()
        server.server_close()


def test_sweep_republishes_an_overdue_attempt(
    tmp_path: Path, database_url: str, receiver: Receiver, song: Path
) -> None:
    """The second attempt is an hour away (its message held by the bus); two hours
    later by the clock, the sweep finds it overdue and queues it again."""
    deps = bootstrap.build(_settings(tmp_path, database_url, webhook_backoff_seconds=3600))
    try:
        api = ApiClient(create_app(deps).test_client())
        receiver.script = [500]
        task = _upload(api, song, webhookUrl=receiver.url)
        deadline = time.monotonic() + 60
        while not api.get(f"/api/tasks/{task['id']}").get_json()["webhookDeliveries"]:
            assert time.monotonic() < deadline, "the first attempt was never recorded"
            time.sleep(0.05)
        assert recovery.sweep(deps).notifications == 0
        assert len(receiver.requests) == 1  # not due yet: nothing sent
        real = deps.clock
        deps.clock = lambda: real() + timedelta(hours=2)
        recovery.sweep(deps)
        attempts = _deliveries(api, task["id"], 1)
        assert [(a["attempt"], a["result"]) for a in attempts] == [
            (1, "retrying"), (2, "delivered")
        ]  # fmt: skip
    finally:
        deps.close()
