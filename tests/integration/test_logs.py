"""Log lines as an operator reads them: Cloud Logging's JSON fields (trace from the
request's headers, labels), readable text in the embedded mode, request ids from
header to error answer to log line, and nothing that grants access, ever."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from audioconv import bootstrap, logs
from audioconv.config import LogSettings, Settings
from audioconv.entrypoints import events
from audioconv.ports import Message
from audioconv.services.dependencies import Dependencies
from tests.support.api import ApiClient

TRACE = "105445aa7843bc8bf206b12000100000"
log = logging.getLogger("audioconv.tests")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    logs.configure(LogSettings(log_format="json", gcp_project="my-project"), stream=out)
    yield out
    logs.configure(LogSettings(log_format="text"))


@pytest.fixture
def text_lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    logs.configure(LogSettings(log_format="text"), stream=out)
    yield out
    logs.configure(LogSettings(log_format="text"))


def entries(out: io.StringIO) -> list[dict[str, Any]]:
    """Every line written, each parsed as the JSON object it must be."""
    return [json.loads(line) for line in out.getvalue().splitlines()]


def access(out: io.StringIO, request_id: str) -> dict[str, Any]:
    found = [
        e for e in entries(out)
        if e["logger"] == "audioconv.access"
        and e["logging.googleapis.com/labels"]["requestId"] == request_id
    ]  # fmt: skip
    assert len(found) == 1, out.getvalue()
    return found[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_json_lines_carry_the_trace_and_labels_cloud_logging_reads(
    client: FlaskClient, json_lines: io.StringIO
) -> None:
    api = ApiClient(client, "tracer")
    user_id = api.user_id
    response = client.get(
        "/api/tasks/77",
        headers={**api.headers, "X-Cloud-Trace-Context": f"{TRACE}/1234567;o=1"},
    )
    assert response.status_code == 404
    request_id = response.headers["X-Request-Id"]
    entry = access(json_lines, request_id)
    assert entry["severity"] == "INFO"
    assert entry["message"].startswith("GET /api/tasks/77 404 ")
    assert entry["logging.googleapis.com/trace"] == f"projects/my-project/traces/{TRACE}"
    assert entry["logging.googleapis.com/spanId"] == f"{1234567:016x}"
    assert entry["logging.googleapis.com/trace_sampled"] is True
    assert entry["logging.googleapis.com/labels"] == {
        "requestId": request_id, "taskId": "77", "userId": str(user_id),
    }  # fmt: skip
    assert entry["httpRequest"]["requestMethod"] == "GET"
    assert entry["httpRequest"]["requestUrl"] == "/api/tasks/77"
    assert entry["httpRequest"]["status"] == 404
    assert re.fullmatch(r"[0-9]+\.[0-9]{6}s", entry["httpRequest"]["latency"])
    assert datetime.fromisoformat(entry["time"]).tzinfo is not None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_w3c_traceparent_is_read_too(client: FlaskClient, json_lines: io.StringIO) -> None:
    span = "00f067aa0ba902b7"
    response = client.get("/api/formats", headers={"traceparent": f"00-{TRACE}-{span}-00"})
    entry = access(json_lines, response.headers["X-Request-Id"])
    assert entry["logging.googleapis.com/trace"] == f"projects/my-project/traces/{TRACE}"
    assert entry["logging.googleapis.com/spanId"] == span
    assert entry["logging.googleapis.com/trace_sampled"] is False
    assert entry["logging.googleapis.com/labels"] == {"requestId": response.headers["X-Request-Id"]}


def test_an_exception_is_in_the_message_and_in_stack_trace(json_lines: io.StringIO) -> None:
    with logs.bound(request_id="req-1", task_id=5):
        try:
            raise ValueError("the disk caught fire")
        except ValueError:
            log.exception("converting failed")
    (entry,) = entries(json_lines)
    assert entry["severity"] == "ERROR"
    assert entry["stack_trace"].startswith("Traceback (most recent call last)")
    assert "ValueError: the disk caught fire" in entry["stack_trace"]
    assert entry["message"].startswith("converting failed\nTraceback")
    assert entry["logging.googleapis.com/labels"] == {"requestId": "req-1", "taskId": "5"}
    assert "logging.googleapis.com/trace" not in entry  # no trace header, no trace


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_request_id_goes_from_header_to_error_answer_to_log_line(
    client: FlaskClient, text_lines: io.StringIO
) -> None:
    response = client.get("/api/tasks", headers={"X-Request-Id": "client-42.a:b"})
    assert response.status_code == 401
    assert response.headers["X-Request-Id"] == "client-42.a:b"
    body = response.get_json()
    assert body["requestId"] == "client-42.a:b" and body["message"]
    lines = [line for line in text_lines.getvalue().splitlines() if "client-42.a:b" in line]
    assert len(lines) == 1
    expected = r" INFO audioconv\.access \[req=client-42\.a:b\] GET /api/tasks 401 [0-9.]+ ms$"
    assert re.search(expected, lines[0]), lines[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("sent", ["x" * 129, "has space", "caf\u00e9", "<script>", "a,b", ""])
def test_an_insane_request_id_is_replaced(client: FlaskClient, sent: str) -> None:
    response = client.get("/api/tasks/1", headers={"X-Request-Id": sent})
    made = response.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert response.get_json()["requestId"] == made


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_request_gets_its_own_id(client: FlaskClient) -> None:
    ids = {client.get("/healthz").headers["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_access_lines_keep_one_line_and_drop_the_query(
    client: FlaskClient, text_lines: io.StringIO
) -> None:
    response = client.put("/api/blobs/uploads/a%0Aforged%20line?token=SECRET-GRANT-123",
                          data=b"x", headers={"X-Request-Id": "put-1"})  # fmt: skip
    assert response.status_code in (400, 403, 404)
    written = text_lines.getvalue()
    assert "SECRET-GRANT-123" not in written
    (line,) = [line for line in written.splitlines() if "audioconv.access" in line]
    assert "/api/blobs/uploads/a%0Aforged%20line " in line
    assert "?" not in line


SECRETS = {
    "bearer": "Authorization: Bearer abcdefghij.klmnop-qrstuvwxyz",
    "jwt": "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLWJ5dGVz was refused",
    "password_kv": "login with password=hunter2-secret for ann",
    "password_json": 'body {"username": "ann", "password1": "hunter2-secret"}',
    "password_repr": "fields {'password': 'hunter2-secret', 'email': 'a@b.c'}",
    "gcs_signed_url": "https://storage.googleapis.com/b/k.flac?X-Goog-Algorithm=GOOG4-RSA-SHA256"
    "&X-Goog-Credential=sa%40p.iam.gserviceaccount.com%2F20261128&X-Goog-Signature=0a1b2c3d4e5f",
    "own_signed_url": "PUT http://localhost:8080/api/blobs/uploads/u/1/a.flac?token=eyJrZXkiOiJ1cGxvYWRzIn0.Z2s.sig-part",
    "database_url": "cannot connect to postgresql+pg8000://audioconv:db-pass-word@10.0.0.3/audioconv",
    "private_key": '{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC'
    '\\n-----END PRIVATE KEY-----\\n"}',
    "smtp": "smtp_password: mail-secret-99 rejected",
}  # fmt: skip
MUST_NOT_APPEAR = [
    "abcdefghij.klmnop-qrstuvwxyz", "c2lnbmF0dXJlLWJ5dGVz", "hunter2-secret",
    "0a1b2c3d4e5f", "sa%40p.iam", "sig-part", "db-pass-word", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    "mail-secret-99",
]  # fmt: skip


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secrets_never_reach_a_log_line(fmt: str, tmp_path: Path) -> None:
    out = io.StringIO()
    logs.configure(LogSettings(log_format=fmt), stream=out)  # type: ignore[arg-type]
    try:
        signing_key = "configured-signing-key-" + "k" * 24
        # Configured: hidden from the logs once resolved (at start-up).
        bootstrap.resolve_secrets(Settings(data_dir=tmp_path, secret_key=signing_key))
        for name, text in SECRETS.items():
            log.warning("%s: %s", name, text)
        log.info("key in use: %s", signing_key)
        try:
            raise RuntimeError(f"failed: {SECRETS['database_url']} ({SECRETS['bearer']})")
        except RuntimeError:
            log.exception("while starting")
        log.error("stack", stack_info=True, extra={"note": SECRETS["password_kv"]})
    finally:
        logs.configure(LogSettings(log_format="text"))
    written = out.getvalue()
    for secret in [*MUST_NOT_APPEAR, signing_key]:
        assert secret not in written, (secret, written)
    assert written.count(logs.REDACTED) >= len(SECRETS) + 2
    # What is not secret stays readable.
    assert "storage.googleapis.com/b/k.flac?" in written
    assert "ann" in written and "10.0.0.3/audioconv" in written
    if fmt == "json":
        assert all(isinstance(json.loads(line), dict) for line in written.splitlines())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_login_and_an_authorized_request_log_no_credential(
    client: FlaskClient, json_lines: io.StringIO
) -> None:
    api = ApiClient(client, "quiet")
    token = api.headers["Authorization"].split()[1]
    client.post("/api/auth/login", json={"username": "quiet", "password": "wrong-password-1"})
    client.get("/api/tasks", headers=api.headers)
    written = json_lines.getvalue()
    assert written.count("audioconv.access") >= 2
    for secret in (token, "wrong-password-1", "correct horse battery"):
        assert secret not in written


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_message_handlers_lines_carry_the_message_id(
    deps: Dependencies, json_lines: io.StringIO
) -> None:
    events.handle_finished(deps, Message("message-123", {"taskId": "x"}, {}))
    (entry,) = [e for e in entries(json_lines) if "malformed message" in e["message"]]
    assert entry["logging.googleapis.com/labels"] == {"requestId": "message-123"}
    assert entry["severity"] == "ERROR" and "stack_trace" in entry
    events.handle_finished(deps, Message("message-124", {"taskId": 999999, "revision": 1}, {}))
    (entry,) = [e for e in entries(json_lines) if "999999" in e["message"]]
    assert entry["logging.googleapis.com/labels"] == {
        "requestId": "message-124",
        "taskId": "999999",
    }
