"""Batches through the API with every real adapter, on SQLite and PostgreSQL: several
files in one request, a ``batch`` shared by requests, progress, and one ZIP read back."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from flask.testing import FlaskClient
from werkzeug.http import parse_options_header

from audioconv.domain.model import Task
from audioconv.entrypoints.upload_parsing import MAX_FILES
from audioconv.services import album_gain, direct_uploads
from audioconv.services.dependencies import Dependencies
from audioconv.services.direct_uploads import INCOMING
from tests.support.api import ApiClient
from tests.support.audio import decoded_duration, make_audio, probe
from tests.support.blobs import stored_files
from tests.support.direct_uploads import upload_status
from tests.support.openapi import conforms


@pytest.fixture
def alice(client: FlaskClient) -> ApiClient:
    return ApiClient(client, "alice")


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    """Two inputs whose outputs share a name (song.mp3), and a file that is not audio."""
    folder = tmp_path / "in"
    folder.mkdir()
    notes = folder / "notes.txt"
    notes.write_text("shopping list: milk, eggs\n" * 50)
    return {
        "flac": make_audio(folder / "song.flac", 2.0),
        "wav": make_audio(folder / "song.wav", 1.0),
        "text": notes,
    }


def _post_files(api: ApiClient, files: list[Path], **fields: str) -> Any:
    handles = [path.open("rb") for path in files]
    try:
        parts = [(fh, path.name) for fh, path in zip(handles, files, strict=True)]
        return api.client.post("/api/tasks", data={"fileName": parts, **fields},
                               headers=api.headers, content_type="multipart/form-data")  # fmt: skip
    finally:
        for fh in handles:
            fh.close()


def _wait_batch(api: ApiClient, batch_id: int) -> dict[str, Any]:
    for task in api.get(f"/api/batches/{batch_id}").get_json()["tasks"]:
        api.wait(task["id"])
    batch: dict[str, Any] = api.get(f"/api/batches/{batch_id}").get_json()
    return batch


def _zip(api: ApiClient, batch_id: int) -> tuple[zipfile.ZipFile, dict[str, Any]]:
    response = api.get(f"/api/batches/{batch_id}/zip")
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/zip"
    assert int(response.headers["Content-Length"]) == len(response.data)
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.testzip() is None  # every member's CRC checks out
    return archive, json.loads(archive.read("manifest.json"))


def test_several_files_make_one_batch_and_one_zip(
    alice: ApiClient, inputs: dict[str, Path], tmp_path: Path
) -> None:
    response = _post_files(alice, [inputs["flac"], inputs["wav"], inputs["text"]], newFormat="mp3")
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    batch_id = created["id"]
    assert created["links"]["zip"] == f"/api/batches/{batch_id}/zip"
    assert [t["fileName"] for t in created["tasks"]] == ["song.flac", "song.wav", "notes.txt"]
    assert {t["batchId"] for t in created["tasks"]} == {batch_id}
    refused = created["tasks"][2]
    assert refused["status"] == "failed"
    assert "not an audio file" in refused["error"]

    batch = _wait_batch(alice, batch_id)
    assert [t["status"] for t in batch["tasks"]] == ["processed", "processed", "failed"]
    assert batch["progress"] == {"total": 3, "uploaded": 0, "processing": 0, "processed": 2,
                                 "failed": 1, "done": 1.0}  # fmt: skip

    archive, manifest = _zip(alice, batch_id)
    assert sorted(archive.namelist()) == [
        "manifest.json",
        "playlist.m3u8",
        "song (2).mp3",
        "song.mp3",
    ]
    by_name = {entry["name"]: entry for entry in manifest["files"]}
    expected_seconds = {"song.mp3": 2.0, "song (2).mp3": 1.0}
    for name, seconds in expected_seconds.items():
        out = tmp_path / name
        out.write_bytes(archive.read(name))
        assert by_name[name]["bytes"] == out.stat().st_size
        streams = probe(out)["streams"]
        assert [s["codec_name"] for s in streams if s["codec_type"] == "audio"] == ["mp3"]
        assert decoded_duration(out) == pytest.approx(seconds, abs=0.1)
    assert [e["fileName"] for e in manifest["files"]] == ["song.flac", "song.wav"]
    assert manifest["failed"] == [
        {"taskId": refused["id"], "fileName": "notes.txt", "error": refused["error"]}
    ]
    assert manifest["pending"] == []
    assert manifest["batch"]["id"] == batch_id
    assert manifest["progress"] == batch["progress"]


def test_a_batch_shared_by_several_requests(
    alice: ApiClient, deps: Dependencies, inputs: dict[str, Path]
) -> None:
    made = alice.client.post("/api/batches", json={"name": "Album"}, headers=alice.headers)
    assert made.status_code == 201, made.get_json()
    batch_id = made.get_json()["id"]
    assert made.get_json()["tasks"] == []
    assert made.get_json()["progress"]["done"] == 1.0  # nothing left to do in an empty batch

    form = _post_files(alice, [inputs["flac"]], newFormat="ogg", batch=str(batch_id))
    assert form.status_code == 201, form.get_json()
    assert form.get_json()["batchId"] == batch_id  # one file: the task, as always
    raw = alice.client.post(
        f"/api/tasks?fileName=take%202.wav&newFormat=ogg&batch={batch_id}",
        data=inputs["wav"].read_bytes(),
        headers={**alice.headers, "Content-Type": "application/octet-stream"},
    )
    assert raw.status_code == 201, raw.get_json()
    assert raw.get_json()["batchId"] == batch_id
    more = _post_files(alice, [inputs["wav"], inputs["flac"]], newFormat="ogg", batch=str(batch_id))
    assert more.status_code == 201, more.get_json()
    assert more.get_json()["id"] == batch_id
    # A task uploaded without a batch is in none.
    alone = alice.upload(inputs["wav"], "ogg").get_json()
    assert alone["batchId"] is None

    batch = _wait_batch(alice, batch_id)
    assert batch["name"] == "Album"
    assert [t["fileName"] for t in batch["tasks"]] == ["song.flac", "take 2.wav", "song.wav",
                                                       "song.flac"]  # fmt: skip
    assert batch["progress"]["processed"] == 4
    listed = alice.get("/api/batches").get_json()
    assert [(b["id"], b["name"], b["progress"]["total"]) for b in listed] == [
        (batch_id, "Album", 4)
    ]
    spec = alice.get("/api/openapi.json").get_json()
    conforms(spec, "BatchSummary", listed[0])  # so without its tasks
    conforms(spec, "Batch", batch)
    conforms(spec, "Batch", more.get_json())

    response = alice.get(f"/api/batches/{batch_id}/zip")
    disposition, params = parse_options_header(response.headers["Content-Disposition"])
    assert (disposition, params["filename"]) == ("attachment", "Album.zip")
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert sorted(archive.namelist()) == [
        "manifest.json", "playlist.m3u8", "song (2).ogg", "song (3).ogg", "song.ogg",
        "take 2.ogg",
    ]  # fmt: skip


def test_a_task_deleted_or_still_pending(
    alice: ApiClient, deps: Dependencies, inputs: dict[str, Path]
) -> None:
    created = _post_files(alice, [inputs["flac"], inputs["wav"]], newFormat="opus").get_json()
    batch_id = created["id"]
    first, second = (t["id"] for t in _wait_batch(alice, batch_id)["tasks"])
    deps.blobs.put_file("uploads/x/waiting.flac", inputs["flac"], "audio/flac")
    with deps.uow() as uow:  # a task no worker has picked up yet
        waiting = Task(user_id=alice.user_id, file_name="waiting.flac", input_format="flac",
                       output_format="opus", input_key="uploads/x/waiting.flac",
                       batch_id=batch_id)  # fmt: skip
        uow.tasks.add(waiting)
        uow.commit()

    assert alice.client.delete(f"/api/tasks/{first}", headers=alice.headers).status_code == 204
    batch = alice.get(f"/api/batches/{batch_id}").get_json()
    assert [t["id"] for t in batch["tasks"]] == [second, waiting.id]
    assert batch["progress"] == {"total": 2, "uploaded": 1, "processing": 0, "processed": 1,
                                 "failed": 0, "done": 0.5}  # fmt: skip

    archive, manifest = _zip(alice, batch_id)
    assert sorted(archive.namelist()) == ["manifest.json", "playlist.m3u8", "song.opus"]
    assert [e["taskId"] for e in manifest["files"]] == [second]
    assert manifest["pending"] == [{"taskId": waiting.id, "fileName": "waiting.flac",
                                    "status": "uploaded", "progress": 0.0}]  # fmt: skip
    assert manifest["failed"] == []


def test_someone_elses_batch_is_not_found(
    client: FlaskClient, alice: ApiClient, deps: Dependencies, inputs: dict[str, Path]
) -> None:
    batch_id = _post_files(alice, [inputs["flac"], inputs["wav"]], newFormat="mp3").get_json()["id"]
    _wait_batch(alice, batch_id)
    stored = sorted(stored_files(deps))
    mallory = ApiClient(client, "mallory")
    for route in (f"/api/batches/{batch_id}", f"/api/batches/{batch_id}/zip"):
        answer = mallory.get(route)
        assert answer.status_code == 404
        assert answer.get_json()["message"] == f"no batch {batch_id}"
    assert mallory.get("/api/batches").get_json() == []

    for files in ([inputs["wav"]], [inputs["wav"], inputs["flac"]]):
        answer = _post_files(mallory, files, newFormat="mp3", batch=str(batch_id))
        assert answer.status_code == 404, answer.get_json()
    ticket = mallory.client.post(
        "/api/uploads", json={"fileName": "x.wav", "newFormat": "mp3", "batch": batch_id},
        headers=mallory.headers,
    )  # fmt: skip
    assert ticket.status_code == 404
    assert mallory.get("/api/tasks").get_json() == []
    assert sorted(stored_files(deps)) == stored  # nothing of mallory's was kept
    assert len(alice.get(f"/api/batches/{batch_id}").get_json()["tasks"]) == 2


@pytest.mark.parametrize(
    ("fields", "status", "needle"),
    [
        ({"newFormat": "mp4"}, 400, "format"),
        ({"newFormat": "mp3", "bitrate": "9999"}, 400, "bitrate"),
        ({"newFormat": "mp3", "batch": "one"}, 400, "batch must be"),
        ({"newFormat": "mp3", "batch": "0"}, 404, "no batch 0"),
    ],
)
def test_a_request_wide_mistake_refuses_every_file(
    alice: ApiClient, deps: Dependencies, inputs: dict[str, Path],
    fields: dict[str, str], status: int, needle: str,
) -> None:  # fmt: skip
    answer = _post_files(alice, [inputs["flac"], inputs["wav"]], **fields)
    assert answer.status_code == status, answer.get_json()
    assert needle in answer.get_json()["message"]
    assert alice.get("/api/tasks").get_json() == []
    assert alice.get("/api/batches").get_json() == []
    assert stored_files(deps) == []
    assert list((deps.settings.resolved_work_dir / INCOMING).iterdir()) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_quota_counts_every_file_before_any_is_stored(
    alice: ApiClient, deps: Dependencies, inputs: dict[str, Path]
) -> None:
    deps.settings.quota_tasks_in_flight = 2
    answer = _post_files(alice, [inputs["flac"], inputs["wav"], inputs["wav"]], newFormat="mp3")
    assert answer.status_code == 429
    assert "these 3 files would make 3" in answer.get_json()["message"]
    deps.settings.quota_tasks_in_flight = 0
    deps.settings.quota_stored_bytes = inputs["flac"].stat().st_size + 10
    answer = _post_files(alice, [inputs["flac"], inputs["wav"]], newFormat="mp3")
    assert answer.status_code == 413
    assert "storage quota" in answer.get_json()["message"]
    assert alice.get("/api/tasks").get_json() == []
    assert stored_files(deps) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_direct_upload_joins_its_batch(alice: ApiClient, inputs: dict[str, Path]) -> None:
    batch_id = alice.client.post("/api/batches", headers=alice.headers).get_json()["id"]
    ticket = alice.client.post(
        "/api/uploads", json={"fileName": "big.flac", "newFormat": "wav", "batch": batch_id},
        headers=alice.headers,
    )  # fmt: skip
    assert ticket.status_code == 201, ticket.get_json()
    url = urlsplit(ticket.get_json()["url"])
    put = alice.client.put(f"{url.path}?{url.query}", data=inputs["flac"].read_bytes(),
                           headers=ticket.get_json()["headers"])  # fmt: skip
    assert put.status_code == 200, put.get_json()
    task = upload_status(alice, ticket.get_json()["uploadId"])
    assert task["batchId"] == batch_id
    batch = _wait_batch(alice, batch_id)
    assert [(t["fileName"], t["status"]) for t in batch["tasks"]] == [("big.flac", "processed")]
    archive = zipfile.ZipFile(io.BytesIO(alice.get(f"/api/batches/{batch_id}/zip").data))
    assert sorted(archive.namelist()) == ["big.wav", "manifest.json", "playlist.m3u8"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_zip_member_names_are_safe_and_unique(
    alice: ApiClient, inputs: dict[str, Path], tmp_path: Path
) -> None:
    with inputs["wav"].open("rb") as one, inputs["wav"].open("rb") as two:
        parts = [(one, "../../etc/evil.wav"), (two, "sub/EVIL.wav")]
        created = alice.client.post(
            "/api/tasks", data={"fileName": parts, "newFormat": "flac"},
            headers=alice.headers, content_type="multipart/form-data",
        )  # fmt: skip
    assert created.status_code == 201, created.get_json()
    batch_id = created.get_json()["id"]
    _wait_batch(alice, batch_id)
    archive, manifest = _zip(alice, batch_id)
    assert archive.namelist() == ["manifest.json", "playlist.m3u8", "evil.flac", "EVIL (2).flac"]
    assert [e["fileName"] for e in manifest["files"]] == ["evil.wav", "EVIL.wav"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_zip_layout_is_read_from_the_query(alice: ApiClient, inputs: dict[str, Path]) -> None:
    created = _post_files(alice, [inputs["wav"], inputs["flac"]], newFormat="flac")
    batch_id = created.get_json()["id"]
    _wait_batch(alice, batch_id)
    flat = ["manifest.json", "playlist.m3u8", "song.flac", "song (2).flac"]
    for query in ("", "?layout=", "?layout=flat"):
        response = alice.get(f"/api/batches/{batch_id}/zip{query}")
        assert response.status_code == 200, response.get_json()
        archive = zipfile.ZipFile(io.BytesIO(response.data))
        assert archive.namelist() == flat
        assert json.loads(archive.read("manifest.json"))["layout"] == "flat"
    response = alice.get(f"/api/batches/{batch_id}/zip?layout=album")
    assert response.status_code == 200, response.get_json()
    album = zipfile.ZipFile(io.BytesIO(response.data))
    assert json.loads(album.read("manifest.json"))["layout"] == "album"
    for wrong in ("tree", "ALBUM"):
        refused = alice.get(f"/api/batches/{batch_id}/zip?layout={wrong}")
        assert refused.status_code == 400
        assert refused.get_json()["message"] == "layout must be one of flat, album"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_form_with_too_many_files_is_refused_and_nothing_kept(
    alice: ApiClient, deps: Dependencies
) -> None:
    parts = [(io.BytesIO(b"x"), f"f{i}.wav") for i in range(MAX_FILES + 1)]
    answer = alice.client.post(
        "/api/tasks", data={"fileName": parts, "newFormat": "mp3"},
        headers=alice.headers, content_type="multipart/form-data",
    )  # fmt: skip
    assert answer.status_code == 413
    assert answer.get_json()["message"] == f"the form has more than {MAX_FILES} files"
    assert alice.get("/api/tasks").get_json() == []
    assert list((deps.settings.resolved_work_dir / INCOMING).iterdir()) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_deleting_a_batch_deletes_its_tasks_and_files(
    client: FlaskClient, alice: ApiClient, deps: Dependencies, inputs: dict[str, Path]
) -> None:
    kept = alice.upload(inputs["wav"], "mp3").get_json()  # in no batch: not touched
    alice.wait(kept["id"])
    kept_files = set(stored_files(deps))
    batch_id = _post_files(alice, [inputs["flac"], inputs["wav"]], newFormat="mp3").get_json()["id"]
    _wait_batch(alice, batch_id)
    ticket = alice.client.post(
        "/api/uploads", json={"fileName": "late.wav", "newFormat": "mp3", "batch": batch_id},
        headers=alice.headers,
    ).get_json()  # fmt: skip
    mallory = ApiClient(client, "mallory")
    assert (
        mallory.client.delete(f"/api/batches/{batch_id}", headers=mallory.headers).status_code
        == 404
    )

    gone = alice.client.delete(f"/api/batches/{batch_id}", headers=alice.headers)
    assert gone.status_code == 204
    assert alice.get(f"/api/batches/{batch_id}").status_code == 404
    assert [t["id"] for t in alice.get("/api/tasks").get_json()] == [kept["id"]]
    assert set(stored_files(deps)) == kept_files
    # A direct upload into the batch that arrives after it was deleted is not kept: it is
    # refused (404), and its status says why (a failed task in no batch, no file).
    url = urlsplit(ticket["url"])
    put = alice.client.put(f"{url.path}?{url.query}", data=inputs["wav"].read_bytes(),
                           headers=ticket["headers"])  # fmt: skip
    assert put.status_code == 404
    key = unquote(url.path.removeprefix("/api/blobs/"))
    refused = direct_uploads.finalize(deps, key)  # as an upload's message would, again
    assert refused is not None and refused.status.value == "failed" and refused.batch_id is None
    assert set(stored_files(deps)) == kept_files
    assert [t["id"] for t in alice.get("/api/tasks").get_json()] == [kept["id"], refused.id]


def test_album_gain_is_written_once_the_last_track_is_done(
    alice: ApiClient, deps: Dependencies, inputs: dict[str, Path]
) -> None:
    """On both databases: the album's tags wait for its last track, then no track is
    left due (tests/engine/test_gain_tags.py checks the figures themselves)."""
    files = [inputs["flac"], inputs["wav"]]
    response = _post_files(alice, files, newFormat="flac", gain="album")
    assert response.status_code == 201, response.get_json()
    batch_id = response.get_json()["id"]
    batch = _wait_batch(alice, batch_id)
    deadline = time.monotonic() + 30
    while any(t["albumGain"] == "due" for t in batch["tasks"]):  # the last track's worker
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
        batch = alice.get(f"/api/batches/{batch_id}").get_json()
    for task in batch["tasks"]:
        gain = task["output"]["gain"]
        assert gain["albumGain"] == batch["tasks"][0]["output"]["gain"]["albumGain"]
        assert gain["trackPeak"] > 0
    assert album_gain.settle_due(deps) == 0  # nothing left for the sweep
    alone = alice.upload(inputs["flac"], "flac", gain="album")
    assert alone.status_code == 400 and "upload them as a batch" in alone.get_json()["message"]
