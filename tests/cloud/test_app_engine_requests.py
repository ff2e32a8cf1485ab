"""App Engine refuses request bodies over 32 MB: on App Engine the API says so itself,
and points to direct uploads, which have no such limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from audioconv.entrypoints.appengine import MAX_REQUEST_BYTES
from tests.support.api import ApiClient
from tests.support.audio import make_audio


def big_file(path: Path) -> Path:
    """A file just over App Engine's request limit (sparse: no audio, no disk)."""
    with path.open("wb") as out:
        out.truncate(MAX_REQUEST_BYTES + 1024)
    return path


def test_a_multipart_upload_over_32_mb_points_to_direct_uploads(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAE_ENV", "standard")
    api = ApiClient(client)

    response = api.upload(big_file(tmp_path / "concert.wav"), "mp3")

    assert response.status_code == 413
    message = response.get_json()["message"]
    assert f"App Engine's limit of {MAX_REQUEST_BYTES} bytes" in message
    assert "POST /api/uploads" in message
    assert response.headers["Connection"] == "close"
    assert api.get("/api/tasks").get_json() == []

    # What it points to works, and a small file still goes through the API.
    ticket = client.post(
        "/api/uploads", json={"fileName": "concert.wav", "newFormat": "mp3"}, headers=api.headers
    )
    assert ticket.status_code == 201, ticket.get_json()
    small = api.upload(make_audio(tmp_path / "song.wav", 0.5), "mp3")
    assert small.status_code == 201, small.get_json()


def test_off_app_engine_only_the_upload_limit_applies(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GAE_ENV", raising=False)
    monkeypatch.delenv("GAE_APPLICATION", raising=False)
    api = ApiClient(client)

    response = api.upload(big_file(tmp_path / "concert.wav"), "mp3")

    # Read in full and probed: refused for what it is (zeros, not audio), not its size.
    assert response.status_code == 415, response.get_json()
