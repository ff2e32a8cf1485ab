"""What a user reads and gets back through the API: the exact error texts of sign-up,
log-in and refused uploads, the original file as it was sent, and request fields
written the way people write them."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from audioconv.services.dependencies import Dependencies
from tests.support.api import ApiClient, wait_for
from tests.support.audio import make_audio


@pytest.fixture
def uma(client: FlaskClient) -> ApiClient:
    return ApiClient(client, "uma")


@pytest.fixture
def song(tmp_path: Path) -> Path:
    return make_audio(tmp_path / "song.wav", 1.0)


def _signup(client: FlaskClient, **fields: str) -> Any:
    body = {"username": "newbie", "email": "newbie@example.com",
            "password1": "abcdefgh", "password2": "abcdefgh", **fields}  # fmt: skip
    return client.post("/api/auth/signup", json=body)


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [({"username": "   "}, 400, "username must be 1 to 150 characters"),
     # 76 characters as sent, 152 once NFKC spells each ligature as two letters
     ({"username": "\ufb00" * 76}, 400, "username must be 1 to 150 characters"),
     ({"password2": "abcdefgX"}, 400, "passwords do not match"),
     ({"password1": "abcdefg", "password2": "abcdefg"}, 400,
      "password must be at least 8 characters"),
     ({"username": "uma"}, 409, "username is already taken"),
     ({"email": "UMA@example.com"}, 409, "email is already registered")],
)  # fmt: skip
def test_sign_up_refusals_say_what_is_wrong(
    client: FlaskClient, uma: ApiClient, fields: dict[str, str], status: int, message: str
) -> None:
    response = _signup(client, **fields)
    assert (response.status_code, response.get_json()["message"]) == (status, message)


def test_a_username_of_exactly_the_limit_signs_up_and_logs_in(client: FlaskClient) -> None:
    name = "n" * 150
    assert _signup(client, username=name).status_code == 201
    login = client.post("/api/auth/login", json={"username": name, "password": "abcdefgh"})
    assert login.status_code == 200 and login.get_json()["token"]


@pytest.mark.parametrize(
    ("username", "password"), [("uma", "wrong horse battery"), ("nobody", "correct horse battery")]
)
def test_a_failed_login_says_the_same_either_way(
    client: FlaskClient, uma: ApiClient, username: str, password: str
) -> None:
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 401
    assert response.get_json()["message"] == "invalid username or password"


def test_a_non_audio_upload_is_a_415_saying_why(uma: ApiClient, tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp3"
    fake.write_bytes(b"these are my notes, not a song\n" * 20)
    response = uma.upload(fake, "ogg")
    assert response.status_code == 415
    message = response.get_json()["message"]
    assert message == (
        "not an audio file we can read: the formats we read are listed at GET /api/formats"
    )
    assert uma.get("/api/tasks").get_json() == []


def test_the_original_comes_back_with_its_name_and_bytes(
    uma: ApiClient, song: Path, tmp_path: Path
) -> None:
    for name, disposition in (
        ("My Song.wav", 'attachment; filename="My Song.wav"'),
        ("Caf\u00e9.wav", "attachment; filename=Cafe.wav; filename*=UTF-8''Caf%C3%A9.wav"),
    ):
        task = uma.upload(song, "flac", name=name).get_json()
        for url in (task["links"]["original"], f"/api/tasks/{task['id']}/original"):
            response = uma.get(url)
            assert response.status_code == 200
            assert response.headers["Content-Type"] == "application/octet-stream"
            assert response.headers["Content-Disposition"] == disposition
            assert response.data == song.read_bytes()


@pytest.mark.parametrize("new_format", [".mp3", "MP3", " mp3"])
def test_the_target_format_may_be_written_like_an_extension(
    uma: ApiClient, song: Path, new_format: str
) -> None:
    response = uma.upload(song, new_format)
    assert response.status_code == 201, response.get_json()
    task = uma.wait(response.get_json()["id"])
    assert (task["status"], task["newFormat"]) == ("processed", "mp3")
    converted = uma.get(task["links"]["converted"])
    assert converted.data.startswith((b"ID3", b"\xff\xfb", b"\xff\xf3"))  # an MP3
    assert converted.headers["Content-Type"] == "audio/mpeg"
    assert converted.headers["Content-Disposition"] == "attachment; filename=song.mp3"


def test_a_direct_upload_keeps_a_quality_preset(
    uma: ApiClient, song: Path, deps: Dependencies
) -> None:
    started = uma.client.post(
        "/api/uploads", headers=uma.headers,
        json={"fileName": "song.wav", "newFormat": ".ogg", "quality": "High"},
    )  # fmt: skip
    assert started.status_code == 201, started.get_json()
    ticket = started.get_json()
    url = urlsplit(ticket["url"])
    put = uma.client.put(f"{url.path}?{url.query}", data=song.read_bytes(),
                         headers=ticket["headers"])  # fmt: skip
    assert put.status_code == 200
    task = wait_for(lambda: _arrived(uma, ticket["uploadId"]))
    assert (task["status"], task["newFormat"], task["options"]) == (
        "processed", "ogg", {"quality": "high"})  # fmt: skip


def _arrived(api: ApiClient, upload_id: str) -> dict[str, Any]:
    response = api.get(f"/api/uploads/{upload_id}")
    if response.status_code == 202:
        return {"status": "uploading", "revision": 0}
    assert response.status_code == 200, response.get_json()
    return dict(api.get(f"/api/tasks/{response.get_json()['id']}").get_json())
