"""Downloads in the cloud: the API redirects to a V4 signed GET URL of the object.

Against gcp-storage-emulator, with a throwaway service-account key made here (the
emulator's anonymous client cannot sign). The emulator does not check signatures,
so each URL's signature is checked against the key as Cloud Storage would; it does
honour ``response-content-disposition`` (not ``response-content-type``: it answers
with the object's stored type), so the file name is checked on the real answer and
the content type in the signed query.
"""

from __future__ import annotations

import binascii
import hashlib
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask.testing import FlaskClient
from google.cloud.storage import Bucket, Client

from audioconv.adapters.gcs_blob import GcsBlobStore
from audioconv.client import resumable as resumable_client
from audioconv.services import direct_uploads
from audioconv.services.dependencies import Dependencies
from tests.support.api import ApiClient
from tests.support.audio import make_audio
from tests.support.service_account import SIGNER, signing_client


def signed_query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def assert_signed_get(url: str, key: rsa.RSAPrivateKey) -> None:
    """Recompute the V4 string-to-sign of a GET as Cloud Storage does; check the signature.

    The query (with the response-* overrides) is part of the canonical request, so a
    client cannot change the file name or type without breaking the signature.
    """
    parts = urllib.parse.urlsplit(url)
    query, _, signature = parts.query.partition("&X-Goog-Signature=")
    params = dict(urllib.parse.parse_qsl(query))
    assert params["X-Goog-SignedHeaders"] == "host"
    canonical = "\n".join(
        ["GET", parts.path, query, f"host:{parts.netloc}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    scope = params["X-Goog-Credential"].split("/", 1)[1]
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = "\n".join(["GOOG4-RSA-SHA256", params["X-Goog-Date"], scope, digest])
    key.public_key().verify(  # raises InvalidSignature
        binascii.unhexlify(signature), to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_signed_get_url(bucket: Bucket, rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    store = GcsBlobStore(bucket.name, client=signing_client(rsa_key))
    body = b"fLaC" + bytes(range(256)) * 100
    (tmp_path / "f").write_bytes(body)
    store.put_file("outputs/7/r1/Café & co.flac", tmp_path / "f", "application/octet-stream")

    url = store.signed_get_url("outputs/7/r1/Café & co.flac", "Café & co.flac", "audio/flac", 300)

    assert url is not None
    params = signed_query(url)
    assert params["X-Goog-Credential"].startswith(SIGNER + "/")
    assert params["X-Goog-Expires"] == "300"
    assert params["response-content-type"] == "audio/flac"
    disposition = params["response-content-disposition"]
    assert disposition == (
        """attachment; filename="Cafe & co.flac"; filename*=UTF-8''Caf%C3%A9%20&%20co.flac"""
    )
    assert_signed_get(url, rsa_key)

    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == body
    assert fetched.headers["Content-Disposition"] == disposition


def test_anonymous_client_cannot_sign_so_the_api_streams(
    gcs_client: Client, bucket: Bucket
) -> None:
    assert GcsBlobStore(bucket.name, client=gcs_client).signed_get_url("k", "k", "a/b", 60) is None


def test_downloads_redirect_to_signed_urls(
    cloud_client: FlaskClient,
    bucket: Bucket,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
) -> None:
    song = make_audio(tmp_path / "My song.wav", 1.0)
    api = ApiClient(cloud_client)
    created = api.upload(song, "flac")
    assert created.status_code == 201, created.get_json()
    task = api.wait(created.get_json()["id"])
    assert task["status"] == "processed", task

    for route, name, mime, stored_key in (
        (task["links"]["original"], "My song.wav", None, "uploads/"),
        (task["links"]["converted"], "My song.flac", "audio/flac", f"outputs/{task['id']}/"),
        ("/api/files/My%20song.wav", "My song.flac", "audio/flac", f"outputs/{task['id']}/"),
    ):
        answer = api.get(route)
        assert answer.status_code == 302, (route, answer.get_json())
        assert answer.headers["Cache-Control"] == "no-store"
        url = answer.headers["Location"]
        params = signed_query(url)
        assert params["X-Goog-Expires"] == "300"  # download_url_ttl_seconds
        if mime:
            assert params["response-content-type"] == mime
        assert_signed_get(url, rsa_key)

        fetched = requests.get(url, timeout=10)  # no token: the URL is the credential
        assert fetched.status_code == 200
        assert fetched.headers["Content-Disposition"] == f'attachment; filename="{name}"'
        (blob,) = (b for b in bucket.list_blobs(prefix=stored_key) if b.name.endswith(name))
        assert fetched.content == blob.download_as_bytes()
        if name.endswith(".wav"):
            assert fetched.content == song.read_bytes()  # the upload, byte for byte
        else:
            assert fetched.content.startswith(b"fLaC")

        # HEAD has no body to cap: the API answers it with the size.
        head = cloud_client.head(route, headers=api.headers)
        assert head.status_code == 200
        assert int(head.headers["Content-Length"]) == len(fetched.content)

    # Not processed yet, or not there: the API still answers, in JSON.
    assert api.get(f"/api/tasks/{task['id'] + 1}/converted").status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_api_takes_no_upload_put_when_uploads_go_to_cloud_storage(
    cloud_client: FlaskClient, bucket: Bucket
) -> None:
    key = f"direct-uploads/1/{'a' * 32}/mp3/a.wav"
    response = cloud_client.put(f"/api/blobs/{key}?token=anything", data=b"RIFF")
    assert response.status_code == 404
    assert response.get_json() == {
        "message": "uploads go to Cloud Storage in this deployment",
        "requestId": response.headers["X-Request-Id"],
    }
    assert [blob.name for blob in bucket.list_blobs()] == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_resumable_session_goes_on_from_cloud_storage_s_offset(
    cloud_client: FlaskClient, cloud_deps: Dependencies, bucket: Bucket, tmp_path: Path
) -> None:
    """In the cloud a resumable upload is Cloud Storage's own session, which the API
    starts and the client PUTs to in pieces: nothing passes through App Engine."""
    song = make_audio(tmp_path / "long.wav", 4.0)
    data = song.read_bytes()
    api = ApiClient(cloud_client)
    start = cloud_client.post(
        "/api/uploads",
        headers=api.headers,
        json={"fileName": "long.wav", "newFormat": "flac", "resumable": True, "size": len(data)},
    )
    assert start.status_code == 201, start.get_json()
    ticket = start.get_json()
    assert ticket["resumable"] is True and ticket["method"] == "PUT"
    session = ticket["url"]
    piece = 256 * 1024  # Cloud Storage takes pieces in multiples of 256 KiB
    first = requests.put(
        session,
        data=data[:piece],
        timeout=30,
        headers={"Content-Range": f"bytes 0-{piece - 1}/{len(data)}"},
    )
    assert first.status_code == 308, first.text
    # A client whose connection broke asks how far the session got, and goes on.
    asked = requests.put(session, timeout=30, headers={"Content-Range": f"bytes */{len(data)}"})
    assert asked.status_code == 308 and asked.headers["Range"] == f"bytes=0-{piece - 1}"
    rest = requests.put(
        session,
        data=data[piece:],
        timeout=30,
        headers={"Content-Range": f"bytes {piece}-{len(data) - 1}/{len(data)}"},
    )
    assert rest.status_code in (200, 201), rest.text
    (blob,) = bucket.list_blobs(prefix=f"direct-uploads/{api.user_id}/{ticket['uploadId']}/")
    assert blob.download_as_bytes() == data
    # The bucket's finalize notification (the emulator sends none) makes the task.
    task = direct_uploads.finalize(cloud_deps, blob.name)
    assert task is not None
    done = api.wait(task.id or 0)
    assert (done["status"], done["fileName"]) == ("processed", "long.wav"), done
    # Too large for the upload limit: refused before any session is made.
    too_big = cloud_client.post("/api/uploads", headers=api.headers, json={
        "fileName": "x.wav", "newFormat": "flac", "resumable": True,
        "size": cloud_deps.settings.max_upload_bytes + 1})  # fmt: skip
    assert too_big.status_code == 413


class _Interrupted(Exception):
    """The CLI stopped (^C, a crash) after its first piece."""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_cli_goes_on_with_an_interrupted_session(
    cloud_client: FlaskClient, bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's Cloud Storage session upload: stopped after a piece, run again, it asks
    Cloud Storage how far it got and sends only the rest."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(resumable_client, "PIECE_BYTES", 256 * 1024)
    song = make_audio(tmp_path / "long.wav", 4.0)
    data = song.read_bytes()
    api = ApiClient(cloud_client)
    fields = {"newFormat": "flac"}
    scope = resumable_client.scope_of("http://server", song, fields)
    sessions = requests.Session()

    def start() -> dict[str, Any]:
        body = {"fileName": song.name, **fields, "resumable": True, "size": len(data)}
        answer = cloud_client.post("/api/uploads", headers=api.headers, json=body)
        assert answer.status_code == 201, answer.get_json()
        return dict(answer.get_json())

    sent: list[int] = []

    def stop_after_first(done: int, total: int) -> None:
        sent.append(done)
        if done > 0:
            raise _Interrupted

    with pytest.raises(_Interrupted):
        resumable_client.session_upload(start, sessions, scope, song, stop_after_first)
    assert sent == [0, 256 * 1024]
    offsets: list[int] = []
    upload_id = resumable_client.session_upload(
        start, sessions, scope, song, lambda done, total: offsets.append(done)
    )
    assert offsets[0] == 256 * 1024  # went on from Cloud Storage's offset
    (blob,) = bucket.list_blobs(prefix=f"direct-uploads/{api.user_id}/{upload_id}/")
    assert blob.download_as_bytes() == data
    assert resumable_client._remembered() == {}  # a finished session is forgotten
