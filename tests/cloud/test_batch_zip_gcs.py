"""A batch's ZIP in the cloud: the converted files streamed out of Cloud Storage
(gcp-storage-emulator) into the archive, byte for byte, and App Engine's response cap."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from google.cloud.storage import Bucket

from audioconv.entrypoints.routes import batches as batch_routes
from tests.support.api import ApiClient
from tests.support.audio import make_audio, probe


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_zip_streams_the_converted_files_out_of_the_bucket(
    cloud_client: FlaskClient,
    bucket: Bucket,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    songs = [make_audio(tmp_path / "take.wav", 1.0), make_audio(tmp_path / "take.flac", 1.5)]
    api = ApiClient(cloud_client)
    with songs[0].open("rb") as one, songs[1].open("rb") as two:
        created = cloud_client.post(
            "/api/tasks",
            data={"fileName": [(one, "take.wav"), (two, "take.flac")], "newFormat": "ogg"},
            headers=api.headers, content_type="multipart/form-data",
        )  # fmt: skip
    assert created.status_code == 201, created.get_json()
    batch = created.get_json()
    for task in batch["tasks"]:
        assert api.wait(task["id"])["status"] == "processed"

    response = api.get(batch["links"]["zip"])
    assert response.status_code == 200, response.get_json()
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert sorted(archive.namelist()) == [
        "manifest.json",
        "playlist.m3u8",
        "take (2).ogg",
        "take.ogg",
    ]
    manifest = json.loads(archive.read("manifest.json"))
    stored = {blob.name: blob.download_as_bytes() for blob in bucket.list_blobs(prefix="outputs/")}
    for entry in manifest["files"]:
        data = archive.read(entry["name"])
        assert data in stored.values()  # the very bytes in the bucket
        out = tmp_path / entry["name"]
        out.write_bytes(data)
        assert probe(out)["streams"][0]["codec_name"] == "vorbis"
    assert [e["fileName"] for e in manifest["files"]] == ["take.wav", "take.flac"]

    # On App Engine no response may carry more than 32 MB: a larger ZIP is a clear 413.
    monkeypatch.setenv("GAE_ENV", "standard")
    monkeypatch.setattr(batch_routes, "MAX_RESPONSE_BYTES", len(response.data) - 1)
    capped = api.get(batch["links"]["zip"])
    assert capped.status_code == 413
    assert "App Engine" in capped.get_json()["message"]
