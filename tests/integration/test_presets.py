"""Presets through the API (issue 23), on SQLite and PostgreSQL: saved, listed, changed
and deleted; checked by the rules an upload's options are; and named by uploads
(multipart, raw, convert-again), whose own fields win. The converted files are
probed: the preset's format and bitrate are what came out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support.api import ApiClient
from tests.support.audio import make_audio, probe

# Uploads that convert: one database is enough (the presets' storage runs on both).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PODCAST = {"name": "podcast", "newFormat": "mp3", "bitrate": 64, "channels": 1}


@pytest.fixture
def song(tmp_path: Path) -> Path:
    return make_audio(tmp_path / "song.wav", 0.5)


def _save(user: ApiClient, body: dict[str, Any]) -> Any:
    return user.client.post("/api/presets", json=body, headers=user.headers)


def _upload(user: ApiClient, path: Path, **fields: str) -> Any:
    """POST the file with these fields only (no ``newFormat`` unless given). (Werkzeug's
    test client writes an empty field so that the parser reads the next part into it:
    leave a field out rather than empty.)"""
    with path.open("rb") as fh:
        return user.client.post(
            "/api/tasks", data={"fileName": (fh, path.name), **fields},
            headers=user.headers, content_type="multipart/form-data",
        )  # fmt: skip


def _output(user: ApiClient, task_id: int, tmp_path: Path) -> dict[str, Any]:
    done = user.wait(task_id)
    assert done["status"] == "processed", done
    out = tmp_path / done["outputFileName"]
    out.write_bytes(user.get(f"/api/tasks/{task_id}/converted").data)
    return dict(probe(out)["streams"][0])


def test_presets_are_saved_listed_changed_and_deleted(client: FlaskClient) -> None:
    alice = ApiClient(client, "alice")
    saved = _save(alice, PODCAST)
    assert saved.status_code == 201, saved.get_json()
    preset = saved.get_json()
    assert preset["name"] == "podcast" and preset["newFormat"] == "mp3"
    assert preset["options"] == {"bitrate": 64, "channels": 1}
    assert alice.get("/api/presets").get_json() == [preset]
    assert alice.get(f"/api/presets/{preset['id']}").get_json() == preset
    assert _save(alice, PODCAST).status_code == 409  # one name, one preset
    changed = client.put(f"/api/presets/{preset['id']}", headers=alice.headers,
                         json={"name": "voice", "newFormat": "opus", "bitrate": "48k"})  # fmt: skip
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["options"] == {"bitrate": 48}  # channels no longer set
    assert changed.get_json()["newFormat"] == "opus"
    assert client.delete(f"/api/presets/{preset['id']}", headers=alice.headers).status_code == 204
    assert alice.get("/api/presets").get_json() == []
    assert alice.get(f"/api/presets/{preset['id']}").status_code == 404


def test_someone_elses_preset_is_not_found(client: FlaskClient, song: Path) -> None:
    alice, bob = ApiClient(client, "alice"), ApiClient(client, "bob")
    preset = _save(alice, PODCAST).get_json()
    assert bob.get(f"/api/presets/{preset['id']}").status_code == 404
    assert client.delete(f"/api/presets/{preset['id']}", headers=bob.headers).status_code == 404
    refused = _upload(bob, song, preset="podcast")
    assert refused.status_code == 404
    assert "no preset named 'podcast'" in refused.get_json()["message"]
    assert bob.get("/api/tasks").get_json() == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"name": "x", "newFormat": "flac", "bitrate": 128}, "flac is lossless"),
        ({"name": "x", "newFormat": "mp3", "bitrate": 128, "quality": "high"}, "not both"),
        ({"name": "x", "newFormat": "mp4"}, "mp4"),
        ({"name": "x"}, "missing field 'newFormat'"),
        ({"newFormat": "mp3"}, "missing field 'name'"),
        ({"name": "x", "newFormat": "mp3", "colour": "red"}, "unknown field 'colour'"),
        ({"name": "x", "newFormat": "mp3", "sampleRate": 5}, "sampleRate"),
        ({"name": "x", "newFormat": "mp3", "bitrate": "1" * 33}, "'bitrate' must be at most 32"),
        ({"name": "x", "newFormat": "mp3", "gain": "loud"}, "gain must be one of track, album"),
    ],
)
def test_a_preset_is_checked_by_the_rules_an_upload_is(
    client: FlaskClient, song: Path, body: dict[str, Any], words: str
) -> None:
    alice = ApiClient(client, "alice")
    response = _save(alice, body)
    assert response.status_code == 400
    assert words in response.get_json()["message"]
    assert alice.get("/api/presets").get_json() == []
    fields = {k: str(v) for k, v in body.items() if k not in ("name", "newFormat", "colour")}
    if {"name", "newFormat"} <= set(body) and "colour" not in body:  # an upload: the same
        upload = alice.upload(song, body["newFormat"], **fields)
        assert upload.status_code == 400
        assert upload.get_json()["message"] == response.get_json()["message"]


@SQLITE_ONLY
def test_an_upload_naming_a_preset_gets_its_format_and_options(
    client: FlaskClient, song: Path, tmp_path: Path
) -> None:
    alice = ApiClient(client, "alice")
    _save(alice, PODCAST)
    created = _upload(alice, song, preset="podcast")
    assert created.status_code == 201, created.get_json()
    task = created.get_json()
    assert task["newFormat"] == "mp3" and task["options"] == {"bitrate": 64, "channels": 1}
    stream = _output(alice, task["id"], tmp_path)
    assert stream["codec_name"] == "mp3" and stream["channels"] == 1
    assert int(stream["bit_rate"]) == 64000


@SQLITE_ONLY
def test_what_the_upload_sets_itself_wins_over_the_preset(
    client: FlaskClient, song: Path, tmp_path: Path
) -> None:
    alice = ApiClient(client, "alice")
    _save(alice, {"name": "hq", "newFormat": "mp3", "quality": "high", "channels": 1})
    task = _upload(alice, song, preset="hq", bitrate="96").get_json()
    # The upload's bitrate replaces the preset's quality (they exclude each other).
    assert task["options"] == {"bitrate": 96, "channels": 1}
    assert int(_output(alice, task["id"], tmp_path)["bit_rate"]) == 96000
    other = alice.upload(song, "ogg", preset="hq").get_json()
    assert other["newFormat"] == "ogg"
    assert other["options"] == {"quality": "high", "channels": 1}
    assert _output(alice, other["id"], tmp_path)["codec_name"] == "vorbis"


@SQLITE_ONLY
def test_raw_uploads_and_converting_again_take_a_preset_too(
    client: FlaskClient, song: Path, tmp_path: Path
) -> None:
    alice = ApiClient(client, "alice")
    _save(alice, PODCAST)
    raw = client.post("/api/tasks?fileName=song.wav&preset=podcast", data=song.read_bytes(),
                      headers={**alice.headers, "Content-Type": "audio/wav"})  # fmt: skip
    assert raw.status_code == 201, raw.get_json()
    task = raw.get_json()
    assert task["newFormat"] == "mp3" and task["options"]["bitrate"] == 64
    alice.wait(task["id"])
    _save(alice, {"name": "archive", "newFormat": "flac", "bitDepth": 16})
    again = client.put(f"/api/tasks/{task['id']}", json={"preset": "archive"},
                       headers=alice.headers)  # fmt: skip
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["newFormat"] == "flac" and again.get_json()["revision"] == 2
    stream = _output(alice, task["id"], tmp_path)
    assert stream["codec_name"] == "flac" and stream["sample_fmt"] == "s16"


@SQLITE_ONLY
def test_a_batch_upload_takes_the_preset_for_every_file(
    client: FlaskClient, song: Path, tmp_path: Path
) -> None:
    alice = ApiClient(client, "alice")
    _save(alice, PODCAST)
    second = make_audio(tmp_path / "two.wav", 0.5)
    with song.open("rb") as one, second.open("rb") as two:
        response = client.post(
            "/api/tasks", headers=alice.headers, content_type="multipart/form-data",
            data={"fileName": [(one, "one.wav"), (two, "two.wav")], "preset": "podcast"},
        )  # fmt: skip
    assert response.status_code == 201, response.get_json()
    tasks = response.get_json()["tasks"]
    assert [t["newFormat"] for t in tasks] == ["mp3", "mp3"]
    assert all(t["options"] == {"bitrate": 64, "channels": 1} for t in tasks)
