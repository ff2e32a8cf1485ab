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

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask.testing import FlaskClient
from google.cloud.storage import Bucket, Client

from audioconv.adapters.gcs_blob import GcsBlobStore
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
