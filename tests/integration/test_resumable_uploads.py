"""Resumable uploads: the tus 1.0 protocol at /api/uploads/tus, spoken by tuspy (the
CLI's client) over real HTTP, through a proxy that breaks the connection mid-upload;
and the protocol's rules through the test client."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from tusclient import client as tus
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.storage.filestorage import FileStorage
from werkzeug.serving import make_server

from audioconv.client import convert
from audioconv.client import resumable as resumable_client
from audioconv.client.convert import Job
from audioconv.client.progress import Progress
from audioconv.domain.errors import NotFound
from audioconv.entrypoints.api import create_app
from audioconv.services import resumable
from audioconv.services.dependencies import Dependencies
from tests.support.api import PASSWORD, ApiClient, wait_for
from tests.support.audio import make_audio, probe
from tests.support.cutting_proxy import cutting_proxy

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
def live(deps: Dependencies) -> Iterator[str]:
    """The API over real HTTP (threads), in this process."""
    server = make_server("127.0.0.1", 0, create_app(deps), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_audio(tmp_path_factory.mktemp("tus") / "long take.wav", 3.0)


def _settled(url: str, headers: dict[str, str]) -> requests.Response:
    """HEAD of an upload once the server has stored what reached it before a cut.

    The client saw the reset at once; the server may not have handled the broken PATCH
    yet (a client retries after a delay; a 409 sends it to HEAD again)."""
    deadline = time.monotonic() + 10
    while True:
        head = requests.head(url, headers={**headers, **TUS}, timeout=10)
        if int(head.headers["Upload-Offset"]) or time.monotonic() > deadline:
            return head
        time.sleep(0.05)


def _meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def test_an_upload_cut_mid_way_goes_on_from_where_it_stopped(
    live: str, client: FlaskClient, song: Path, tmp_path: Path
) -> None:
    api = ApiClient(client, "tess")
    data = song.read_bytes()
    host, port = live.removeprefix("http://").split(":")
    with cutting_proxy((host, int(port)), cut_after=len(data) // 2) as proxy:
        storage = FileStorage(str(tmp_path / "resume.json"))
        make = tus.TusClient(f"{proxy.url}/api/uploads/tus", headers=api.headers)

        def uploader() -> Any:
            return make.uploader(
                file_path=str(song), chunk_size=len(data) * 2, store_url=True,
                url_storage=storage, metadata={"filename": song.name, "newFormat": "flac"},
            )  # fmt: skip

        first = uploader()
        with pytest.raises((TusUploadFailed, TusCommunicationError)):
            first.upload()  # the connection drops half way through the one PATCH
        assert proxy.cuts == 1
        upload_id = first.url.rsplit("/", 1)[1]
        head = _settled(first.url, api.headers)
        stored = int(head.headers["Upload-Offset"])
        # What arrived before the cut was kept: neither nothing nor everything.
        assert 0 < stored < len(data), stored
        assert head.headers["Upload-Length"] == str(len(data))
        sent_before = proxy.sent

        again = uploader()  # a new run finds the upload by the file and asks where it is
        assert again.url == first.url and again.offset == stored
        again.upload()
        # Only the rest crossed the wire the second time (and a few headers).
        assert proxy.sent - sent_before < len(data) - stored + 4096

    found = api.get(f"/api/uploads/{upload_id}")
    assert found.status_code == 200, found.get_json()
    task = wait_for(lambda: api.get(f"/api/tasks/{found.get_json()['id']}").get_json())
    assert (task["status"], task["fileName"], task["newFormat"]) == (
        "processed", "long take.wav", "flac")  # fmt: skip
    assert api.get(task["links"]["original"]).data == data  # the very bytes
    out = tmp_path / "out.flac"
    out.write_bytes(api.get(task["links"]["converted"]).data)
    assert probe(out)["streams"][0]["codec_name"] == "flac"
    # The finished upload is gone from the tus side.
    assert requests.head(first.url, headers={**api.headers, **TUS}, timeout=10).status_code == 404


def _create(api: ApiClient, length: int, **meta: str) -> Any:
    fields = meta or {"filename": "a.wav", "newFormat": "mp3"}
    return api.client.post(
        "/api/uploads/tus",
        headers={
            **api.headers,
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": _meta(**fields),
        },
    )


def _patch(api: ApiClient, url: str, offset: int, body: bytes, **headers: str) -> Any:
    return api.client.patch(url, data=body, headers={
        **api.headers, **TUS, "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream", **headers})  # fmt: skip


def test_the_tus_protocol_rules(client: FlaskClient, deps: Dependencies, song: Path) -> None:
    api, other = ApiClient(client, "tara"), ApiClient(client, "otto")
    data = song.read_bytes()
    options = client.options("/api/uploads/tus")
    assert options.status_code == 204
    assert options.headers["Tus-Version"] == "1.0.0"
    assert set(options.headers["Tus-Extension"].split(",")) == {
        "creation", "termination", "expiration", "checksum"}  # fmt: skip
    assert options.headers["Tus-Max-Size"] == str(deps.settings.max_upload_bytes)

    # Creation: checked as a direct upload is.
    no_version = client.post("/api/uploads/tus", headers={**api.headers, "Upload-Length": "5"})
    assert no_version.status_code == 412
    assert _create(api, deps.settings.max_upload_bytes + 1).status_code == 413
    assert _create(api, 10, filename="a.wav", newFormat="nope").status_code == 400
    assert _create(api, 10, newFormat="mp3").status_code == 400  # no name
    assert _create(api, 10, filename="a.wav", newFormat="mp3", batch="999").status_code == 404
    assert client.post("/api/uploads/tus", headers={**TUS, "Upload-Length": "5"}).status_code == 401
    created = _create(api, len(data), filename="song.wav", newFormat="opus", bitrate="96k")
    assert created.status_code == 201, created.get_json()
    url = created.headers["Location"]
    assert (
        created.headers["Tus-Resumable"] == "1.0.0" and "GMT" in created.headers["Upload-Expires"]
    )

    # Someone else's upload is not there for them.
    assert client.head(url, headers={**other.headers, **TUS}).status_code == 404
    assert _patch(other, url, 0, data[:10]).status_code == 404
    # The offset must be the upload's; the type must be tus's.
    assert _patch(api, url, 5, data[:10]).status_code == 409
    wrong_type = _patch(api, url, 0, data[:10], **{"Content-Type": "application/octet-stream"})
    assert wrong_type.status_code == 415
    # A checksum that does not match keeps nothing; one that does is taken.
    bad = _patch(api, url, 0, data[:1000], **{"Upload-Checksum": "sha1 " + "A" * 28})
    assert bad.status_code == 460
    assert client.head(url, headers={**api.headers, **TUS}).headers["Upload-Offset"] == "0"
    digest = base64.b64encode(hashlib.sha1(data[:1000]).digest()).decode()
    good = _patch(api, url, 0, data[:1000], **{"Upload-Checksum": f"sha1 {digest}"})
    assert good.status_code == 204 and good.headers["Upload-Offset"] == "1000"
    # Past the announced length: refused, nothing kept.
    assert _patch(api, url, 1000, data[1000:] + b"extra").status_code == 400
    last = _patch(api, url, 1000, data[1000:])
    assert last.status_code == 204 and last.headers["Upload-Offset"] == str(len(data))
    upload_id = url.rsplit("/", 1)[1]
    assert last.headers["Location"] == f"/api/uploads/{upload_id}"
    task = wait_for(lambda: api.get(f"/api/uploads/{upload_id}").get_json())
    assert task["status"] == "processed" and task["options"] == {"bitrate": 96}, task
    assert api.get(task["links"]["original"]).data == data

    # Termination: the upload and its bytes go.
    ended = _create(api, 100).headers["Location"]
    assert _patch(api, ended, 0, b"x" * 40).status_code == 204
    assert client.delete(ended, headers={**api.headers, **TUS}).status_code == 204
    assert client.head(ended, headers={**api.headers, **TUS}).status_code == 404
    assert not list(resumable.folder(deps).glob(f"{ended.rsplit('/', 1)[1]}.*"))

    # Expiration: an upload not finished in time is gone, its bytes with it.
    stale = _create(api, 100).headers["Location"].rsplit("/", 1)[1]
    later = deps.clock() + timedelta(hours=deps.settings.resumable_upload_hours, seconds=1)
    with pytest.raises(NotFound):
        resumable.find(dataclasses.replace(deps, clock=lambda: later), api.user_id, stale)
    assert not list(resumable.folder(deps).glob(f"{stale}.*"))


def test_the_cli_resumes_a_cut_upload(
    live: str, client: FlaskClient, song: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``audioconv convert`` of a large file: tus, through a connection cut mid-upload.
    Its first run (no retries) stops; the same command again goes on from the offset."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(convert, "RESUMABLE_BYTES", 0)  # this small file counts as large
    monkeypatch.setattr(resumable_client, "RETRIES", 0)
    monkeypatch.setattr(resumable_client, "RETRY_DELAY", 0.0)
    api = ApiClient(client, "cleo")
    token = api.headers["Authorization"].split(" ", 1)[1]
    data = song.read_bytes()
    job = Job("mp3", {}, tmp_path, force=False)
    host, port = live.removeprefix("http://").split(":")
    with cutting_proxy((host, int(port)), cut_after=len(data) // 2) as proxy:
        out = io.StringIO()
        first = convert.convert_one(proxy.url, token, song, job, Progress(out, tty=False))
        assert first.error is not None and "run the same command again" in first.error
        assert proxy.cuts == 1 and not (tmp_path / "long take.mp3").exists()
        (url,) = json.loads(resumable_client.state_path().read_text())["_default"].values()
        _settled(url["url"], api.headers)
        before = proxy.sent
        done = convert.convert_one(proxy.url, token, song, job, Progress(out, tty=False))
        assert done.error is None, done.error
        assert proxy.sent - before < len(data) * 0.75  # the rest, not the whole file again
    assert "uploading (resumable)" in out.getvalue()
    assert done.output == tmp_path / "long take.mp3"
    assert probe(done.output)["streams"][0]["codec_name"] == "mp3"
    (task,) = api.get("/api/tasks").get_json()
    assert api.get(task["links"]["original"]).data == data
    # A finished upload is forgotten: nothing is left to resume.
    assert resumable_client.state_path().read_text().strip() in ("", '{"_default": {}}')


def test_deleting_an_account_drops_its_unfinished_uploads(
    client: FlaskClient, deps: Dependencies
) -> None:
    api, other = ApiClient(client, "ugo"), ApiClient(client, "vic")
    mine = _create(api, 100).headers["Location"].rsplit("/", 1)[1]
    theirs = _create(other, 100).headers["Location"].rsplit("/", 1)[1]
    assert _patch(api, f"/api/uploads/tus/{mine}", 0, b"x" * 10).status_code == 204
    gone = client.delete("/api/me", headers=api.headers, json={"password": PASSWORD})
    assert gone.status_code == 200, gone.get_json()
    assert gone.get_json()["deleted"]["files"] == 1
    assert not list(resumable.folder(deps).glob(f"{mine}.*"))
    assert len(list(resumable.folder(deps).glob(f"{theirs}.*"))) == 2  # not theirs
