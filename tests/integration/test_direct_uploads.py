"""Direct uploads in the embedded mode: signed URL, PUT, the finalize event, the task."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from audioconv.services import direct_uploads
from audioconv.services.dependencies import Dependencies
from tests.support.api import ApiClient, wait_for
from tests.support.audio import decoded_duration, make_audio, probe
from tests.support.blobs import stored_files
from tests.support.direct_uploads import put_file, start_upload, upload_status


@pytest.fixture
def ivy(client: FlaskClient) -> ApiClient:
    return ApiClient(client, "ivy")


def test_direct_upload_becomes_a_converted_task(
    ivy: ApiClient, deps: Dependencies, tmp_path: Path
) -> None:
    song = make_audio(tmp_path / "big.wav", 2.0)
    ticket = start_upload(ivy, "big.wav", "flac")
    assert ticket["method"] == "PUT" and ticket["url"].startswith("http://localhost:")
    # Every header the PUT needs; on Cloud Storage the precondition makes the URL single-use.
    # Cloud Storage refuses a body outside the signed size range (here the embedded API does).
    assert ticket["headers"] == {
        "Content-Type": "application/octet-stream", "x-goog-if-generation-match": "0",
        "x-goog-content-length-range": f"0,{deps.settings.max_upload_bytes}"}  # fmt: skip
    assert ivy.get(f"/api/uploads/{ticket['uploadId']}").status_code == 202  # not yet arrived
    assert put_file(ivy, ticket, song.read_bytes()).status_code == 200
    task = upload_status(ivy, ticket["uploadId"])
    task = wait_for(lambda: ivy.get(f"/api/tasks/{task['id']}").get_json())
    assert (task["status"], task["fileName"], task["newFormat"]) == (
        "processed", "big.wav", "flac")  # fmt: skip
    out = tmp_path / "big.flac"
    out.write_bytes(ivy.get(task["links"]["converted"]).data)
    assert probe(out)["streams"][0]["codec_name"] == "flac"
    assert abs(decoded_duration(out) - decoded_duration(song)) < 0.1

    # The finalize event again (at-least-once): the same task, no second one.
    key = f"direct-uploads/{ivy.user_id}/{ticket['uploadId']}/flac/big.wav"
    again = direct_uploads.finalize(deps, key)
    assert again is not None and again.id == task["id"]
    assert len(ivy.get("/api/tasks").get_json()) == 1


def test_direct_upload_carries_its_options(ivy: ApiClient, tmp_path: Path) -> None:
    song = make_audio(tmp_path / "hi.wav", 1.5, rate=48000)
    response = ivy.client.post(
        "/api/uploads", headers=ivy.headers,
        json={"fileName": "hi.wav", "newFormat": "mp3", "bitrate": "96k",
              "sampleRate": 22050, "channels": 1},
    )  # fmt: skip
    assert response.status_code == 201, response.get_json()
    ticket = response.get_json()
    assert put_file(ivy, ticket, song.read_bytes()).status_code == 200
    task = upload_status(ivy, ticket["uploadId"])
    assert task["options"] == {"bitrate": 96, "sampleRate": 22050, "channels": 1}
    task = wait_for(lambda: ivy.get(f"/api/tasks/{task['id']}").get_json())
    out = tmp_path / "hi.mp3"
    out.write_bytes(ivy.get(task["links"]["converted"]).data)
    stream = probe(out)["streams"][0]
    assert (stream["sample_rate"], stream["channels"]) == ("22050", 1)
    assert abs(int(stream["bit_rate"]) - 96000) < 8000


def test_direct_upload_audio_options_ride_in_the_key_and_meet_the_file(
    ivy: ApiClient, tmp_path: Path
) -> None:
    """Decimal and negative values survive the signed key; a trim past the file's end
    (known only once it arrives) makes a failed task that says why."""
    song = make_audio(tmp_path / "t.wav", 2.0)
    fits = {"loudness": "-23", "start": "0.5", "fadeOut": "0.25"}
    ticket = start_upload(ivy, "t.wav", "flac", **fits)
    assert put_file(ivy, ticket, song.read_bytes()).status_code == 200
    task = upload_status(ivy, ticket["uploadId"])
    assert task["options"] == {"loudness": -23.0, "start": 0.5, "fadeOut": 0.25}
    assert wait_for(lambda: ivy.get(f"/api/tasks/{task['id']}").get_json())["status"] == (
        "processed"
    )
    late = start_upload(ivy, "u.wav", "flac", start="5")
    assert put_file(ivy, late, song.read_bytes()).status_code == 200
    failed = upload_status(ivy, late["uploadId"])
    assert failed["status"] == "failed"
    assert "start (5 s) is not before the audio's end (2 s)" in failed["error"]


def test_direct_upload_options_are_checked_up_front(ivy: ApiClient) -> None:
    response = ivy.client.post(
        "/api/uploads", headers=ivy.headers,
        json={"fileName": "a.wav", "newFormat": "flac", "bitrate": 128},
    )  # fmt: skip
    assert response.status_code == 400
    assert "lossless" in response.get_json()["message"]


def test_forged_reused_or_foreign_upload_urls_are_refused(
    ivy: ApiClient, deps: Dependencies, tmp_path: Path
) -> None:
    ticket = start_upload(ivy, "a.wav", "mp3")
    url = urlsplit(ticket["url"])
    forged = ivy.client.put(f"{url.path}?token=abc", data=b"x")
    assert forged.status_code == 403
    other = start_upload(ivy, "b.wav", "mp3")
    swapped = ivy.client.put(f"{url.path}?{urlsplit(other['url']).query}", data=b"x")
    assert swapped.status_code == 403
    assert "not valid for this object" in swapped.get_json()["message"]

    # No grant at all: the query's model says which field is missing, before any byte is read.
    for query in ("", "?token=", "?other=1"):
        missing = ivy.client.put(f"{url.path}{query}", data=b"x")
        assert missing.status_code == 400, query
        assert missing.get_json()["message"] == "missing field 'token'"
        assert missing.get_json()["requestId"]
    controls = ivy.client.put(f"{url.path}?token=a%0Ab", data=b"x")
    assert controls.status_code == 400
    assert "control characters" in controls.get_json()["message"]
    assert stored_files(deps) == []

    # Reused: the first PUT made the task; a second one must not overwrite its input.
    song = make_audio(tmp_path / "a.wav", 1.0)
    assert put_file(ivy, ticket, song.read_bytes()).status_code == 200
    task = upload_status(ivy, ticket["uploadId"])
    reused = put_file(ivy, ticket, b"something else entirely")
    assert reused.status_code == 409, reused.get_json()
    assert "already been used" in reused.get_json()["message"]
    original = ivy.get(task["links"]["original"])
    assert original.status_code == 200 and original.data == song.read_bytes()


def test_non_audio_direct_upload_ends_failed_with_reason(
    ivy: ApiClient, deps: Dependencies
) -> None:
    ticket = start_upload(ivy, "notes.mp3", "wav")
    assert put_file(ivy, ticket, b"just some text, not audio at all" * 8).status_code == 200
    task = upload_status(ivy, ticket["uploadId"])
    assert task["status"] == "failed"
    assert "not an audio file" in task["error"]
    assert ivy.get(task["links"]["original"]).status_code == 404  # nothing kept
    assert stored_files(deps) == []
    # Its URL cannot put anything back either (the object is gone, but the upload is used).
    assert put_file(ivy, ticket, b"more text").status_code == 409
    assert stored_files(deps) == []


def test_finalize_again_after_a_refused_upload_keeps_nothing(
    ivy: ApiClient, deps: Dependencies
) -> None:
    """On GCS a reused URL can write the key again once the refused file was deleted."""
    ticket = start_upload(ivy, "notes.mp3", "wav")
    assert put_file(ivy, ticket, b"not audio" * 8).status_code == 200
    task = upload_status(ivy, ticket["uploadId"])
    key = f"direct-uploads/{ivy.user_id}/{ticket['uploadId']}/wav/notes.mp3"
    deps.blobs.put_file(key, make_text(deps, b"written again through the same URL"), "x")
    again = direct_uploads.finalize(deps, key)
    assert again is not None and again.id == task["id"]
    assert stored_files(deps) == []


def make_text(deps: Dependencies, data: bytes) -> Path:
    path = deps.settings.data_dir / "scratch.txt"
    path.write_bytes(data)
    return path


def test_file_names_are_percent_encoded_in_upload_urls(ivy: ApiClient, tmp_path: Path) -> None:
    name = "my song é+&#?.flac"
    ticket = start_upload(ivy, name, "mp3")
    url = ticket["url"]
    assert url.isascii() and " " not in url and "é" not in url, url
    assert urlsplit(url).path.endswith("/my%20song%20%C3%A9%2B%26_.flac"), url
    song = make_audio(tmp_path / "song.flac", 1.0, ("-c:a", "flac"))
    put = put_file(ivy, ticket, song.read_bytes())
    assert put.status_code == 200, put.get_json()
    task = upload_status(ivy, ticket["uploadId"])
    assert task["fileName"] == "my song é+&_.flac"
    assert wait_for(lambda: ivy.get(f"/api/tasks/{task['id']}").get_json())["status"] == (
        "processed"
    )


def test_start_validates_its_input(ivy: ApiClient) -> None:
    bad = ivy.client.post("/api/uploads", json={"fileName": "a.wav", "newFormat": "xls"},
                          headers=ivy.headers)  # fmt: skip
    assert bad.status_code == 400 and "unknown format" in bad.get_json()["message"]
    missing = ivy.client.post("/api/uploads", json={"newFormat": "mp3"}, headers=ivy.headers)
    assert missing.status_code == 400
    assert ivy.client.post("/api/uploads", json={}).status_code == 401
