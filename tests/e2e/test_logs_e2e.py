"""Logs as the running processes write them: the embedded server's text lines (one
access line per request, no query string, gunicorn's own access log gone), and a
CloudEvent function's Cloud Logging JSON lines under functions-framework, with the
push's trace and the event id as request id."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
import requests

from tests.support.procs import embedded_server, free_port, serve_function

pytestmark = pytest.mark.slow
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_the_embedded_servers_lines(tmp_path: Path) -> None:
    with embedded_server(tmp_path) as base:
        ready = requests.get(f"{base}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "blobStore": "ok", "ffmpeg": "ok"}
        refused = requests.put(
            f"{base}/api/blobs/uploads/1/song.flac?token=SECRET-GRANT-987",
            data=b"not audio", headers={"X-Request-Id": "e2e-put-1"}, timeout=30,
        )  # fmt: skip
        assert refused.status_code >= 400
        assert refused.headers["X-Request-Id"] == "e2e-put-1"
        assert refused.json()["requestId"] == "e2e-put-1"
    written = (tmp_path / "server.log").read_text()
    assert "SECRET-GRANT-987" not in written
    (line,) = [line for line in written.splitlines() if "[req=e2e-put-1]" in line]
    expected = (
        r"INFO audioconv\.access \[req=e2e-put-1\] PUT /api/blobs/uploads/1/song\.flac "
        rf"{refused.status_code} [0-9.]+ ms$"
    )
    assert re.search(expected, line), line
    assert '"PUT /api/blobs' not in written  # gunicorn's own access line (with the query) is gone


def test_a_cloudevent_functions_json_lines(tmp_path: Path) -> None:
    env = {
        "AUDIOCONV_DATA_DIR": str(tmp_path / "data"),
        "AUDIOCONV_LOG_FORMAT": "json",
        "GOOGLE_CLOUD_PROJECT": "audioconv-prod",
    }
    port = free_port()
    log = tmp_path / "notify.log"
    envelope = {
        "message": {"data": base64.b64encode(b"not json").decode(), "messageId": "msg-4711",
                    "publishTime": "2026-11-28T00:00:00Z"},
        "subscription": "projects/audioconv-prod/subscriptions/notify",
    }  # fmt: skip
    with serve_function("notify", "notify", "cloudevent", env, port, log):
        answer = requests.post(
            f"http://127.0.0.1:{port}/", json=envelope, timeout=30,
            headers={"X-Cloud-Trace-Context": f"{TRACE}/42;o=1"},
        )  # fmt: skip
        assert answer.status_code < 300  # a malformed message is acknowledged, not retried
    ours = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            ours.append(json.loads(line))
    (entry,) = [e for e in ours if "malformed push" in e["message"]]
    assert entry["severity"] == "ERROR"
    assert entry["logging.googleapis.com/labels"] == {"requestId": "msg-4711"}
    assert entry["logging.googleapis.com/trace"] == f"projects/audioconv-prod/traces/{TRACE}"
    assert entry["logging.googleapis.com/spanId"] == f"{42:016x}"
    assert "JSONDecodeError" in entry["stack_trace"] or "ValueError" in entry["stack_trace"]
