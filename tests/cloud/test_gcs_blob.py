"""GcsBlobStore against gcp-storage-emulator: round trips, missing blobs, streaming, signed URLs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tracemalloc
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google.auth import credentials as ga_credentials
from google.cloud.storage import Bucket, Client

from audioconv.adapters.gcs_blob import GcsBlobStore
from audioconv.ports import BlobStore
from tests.support.service_account import SIGNER, sa_credentials


@pytest.fixture
def store(gcs_client: Client, bucket: Bucket) -> GcsBlobStore:
    return GcsBlobStore(bucket.name, client=gcs_client)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_is_a_blob_store(store: GcsBlobStore) -> None:
    port: BlobStore = store  # mypy checks the protocol
    assert port is store


def test_put_read_size_delete(store: GcsBlobStore, bucket: Bucket, tmp_path: Path) -> None:
    src = write(tmp_path / "in.mp3", b"ID3" + bytes(range(256)) * 40)
    store.put_file("users/1/tasks/7/in.mp3", src, "audio/mpeg")

    assert store.size("users/1/tasks/7/in.mp3") == src.stat().st_size
    stored = bucket.get_blob("users/1/tasks/7/in.mp3")
    assert stored is not None and stored.content_type == "audio/mpeg"

    out = tmp_path / "out.mp3"
    store.download_to("users/1/tasks/7/in.mp3", out)
    assert out.read_bytes() == src.read_bytes()
    with store.open_read("users/1/tasks/7/in.mp3") as stream:
        assert stream.read() == src.read_bytes()

    store.delete("users/1/tasks/7/in.mp3")
    assert store.size("users/1/tasks/7/in.mp3") is None
    store.delete("users/1/tasks/7/in.mp3")  # deleting again is fine


def test_put_replaces(store: GcsBlobStore, tmp_path: Path) -> None:
    store.put_file("k", write(tmp_path / "a", b"first version"), "audio/wav")
    store.put_file("k", write(tmp_path / "b", b"second"), "audio/wav")
    with store.open_read("k") as stream:
        assert stream.read() == b"second"
    assert store.size("k") == 6


def test_missing_blob(store: GcsBlobStore, tmp_path: Path) -> None:
    assert store.size("nope") is None
    with pytest.raises(KeyError):
        store.download_to("nope", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # no empty file left behind
    with pytest.raises(KeyError):
        store.open_read("nope")
    store.delete("nope")


def test_rejects_path_tricks(store: GcsBlobStore) -> None:
    for key in ("", "/abs", "a/../b"):
        with pytest.raises(ValueError):
            store.size(key)


def test_large_file_streams(store: GcsBlobStore, tmp_path: Path) -> None:
    """50 MB goes up, down and through a reader without being held in memory."""
    size = 50 * 1024 * 1024
    src = tmp_path / "big.wav"
    digest = hashlib.sha256()
    block = os.urandom(1024 * 1024)
    with src.open("wb") as out:
        for i in range(size // len(block)):
            chunk = i.to_bytes(4, "big") + block[4:]  # no two MiB alike
            digest.update(chunk)
            out.write(chunk)

    tracemalloc.start()
    try:
        store.put_file("big.wav", src, "audio/wav")
        assert store.size("big.wav") == size

        down = tmp_path / "down.wav"
        store.download_to("big.wav", down)

        read_digest = hashlib.sha256()
        with store.open_read("big.wav") as stream:
            while chunk := stream.read(1 << 20):
                read_digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert down.stat().st_size == size
    assert _sha256(down) == digest.hexdigest()
    assert read_digest.hexdigest() == digest.hexdigest()
    # Upload chunks are 8 MiB and reads 4 MiB; the file is 50 MiB.
    assert peak < 20 * 1024 * 1024, f"peak Python memory {peak / 2**20:.1f} MiB"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- signed URLs -------------------------------------------------------------


def assert_valid_v4_signature(
    url: str, key: rsa.RSAPrivateKey, content_type: str, length_range: str | None = None
) -> None:
    """Recompute the V4 string-to-sign from the URL as GCS does and check the signature.

    The headers the client must send are signed: it cannot drop the precondition
    to overwrite an existing object, nor the size range to send a larger file.
    """
    parts = urllib.parse.urlsplit(url)
    query, _, signature = parts.query.partition("&X-Goog-Signature=")
    params = dict(urllib.parse.parse_qsl(query))
    signed = {"content-type": content_type, "host": parts.netloc}
    if length_range is not None:
        signed["x-goog-content-length-range"] = length_range
    signed["x-goog-if-generation-match"] = "0"
    assert params["X-Goog-SignedHeaders"] == ";".join(signed)
    headers = "".join(f"{name}:{value}\n" for name, value in signed.items())
    canonical = "\n".join(
        ["PUT", parts.path, query, headers, params["X-Goog-SignedHeaders"], "UNSIGNED-PAYLOAD"]
    )
    scope = params["X-Goog-Credential"].split("/", 1)[1]
    to_sign = "\n".join(
        [
            "GOOG4-RSA-SHA256",
            params["X-Goog-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key.public_key().verify(  # raises InvalidSignature
        binascii.unhexlify(signature), to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_signed_put_url_with_key(
    gcs_client: Client, bucket: Bucket, rsa_key: rsa.RSAPrivateKey, gcs_emulator: str
) -> None:
    signing_client = Client(project="test-project", credentials=sa_credentials(rsa_key))
    store = GcsBlobStore(bucket.name, client=signing_client)

    url = store.signed_put_url("uploads/u1/song.mp3", "audio/mpeg", 900)

    parts = urllib.parse.urlsplit(url)
    params = dict(urllib.parse.parse_qsl(parts.query))
    assert f"{parts.scheme}://{parts.netloc}" == gcs_emulator
    assert parts.path == f"/{bucket.name}/uploads/u1/song.mp3"
    assert params["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert params["X-Goog-Credential"].startswith(SIGNER + "/")
    assert params["X-Goog-Expires"] == "900"
    assert_valid_v4_signature(url, rsa_key, "audio/mpeg")

    # The emulator does not check signatures, but it does store what is PUT there.
    body = b"ID3 fake mp3 bytes" * 1000
    sent = {"Content-Type": "audio/mpeg", "x-goog-if-generation-match": "0"}
    response = requests.put(url, data=body, headers=sent, timeout=10)
    assert response.status_code == 200
    reader = GcsBlobStore(bucket.name, client=gcs_client)
    assert reader.size("uploads/u1/song.mp3") == len(body)
    with reader.open_read("uploads/u1/song.mp3") as stream:
        assert stream.read() == body


class TokenOnlyCredentials(ga_credentials.Credentials):
    """Like App Engine's metadata-server credentials: a token, no private key."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.refreshes = 0

    def refresh(self, request: Any) -> None:
        self.refreshes += 1
        self.token = f"ya29.token-{self.refreshes}"


def test_signed_put_url_through_iam(
    gcs_client: Client,
    bucket: Bucket,
    rsa_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a key, the URL is signed by IAM signBlob as signer_email with a fresh token."""
    from google.cloud.storage import _signing

    calls: list[tuple[str, str]] = []

    def fake_sign_blob(message: str, access_token: str, email: str, *args: Any) -> str:
        # Stands in for POST iamcredentials.googleapis.com/.../{email}:signBlob.
        calls.append((access_token, email))
        signature = rsa_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()

    monkeypatch.setattr(_signing, "_sign_message", fake_sign_blob)
    credentials = TokenOnlyCredentials()
    client = Client(project="test-project", credentials=credentials)
    store = GcsBlobStore(bucket.name, client=client, signer_email=SIGNER)

    url = store.signed_put_url("uploads/u2/a.wav", "audio/wav", 60)

    assert credentials.refreshes == 1
    assert calls == [("ya29.token-1", SIGNER)]
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert params["X-Goog-Credential"].startswith(SIGNER + "/")
    assert_valid_v4_signature(url, rsa_key, "audio/wav")


def test_signed_put_url_binds_the_size(
    bucket: Bucket, rsa_key: rsa.RSAPrivateKey, gcs_emulator: str
) -> None:
    """With max_bytes the URL signs x-goog-content-length-range, so Cloud Storage
    refuses a larger body (the emulator does not check it: the signature is checked)."""
    signing_client = Client(project="test-project", credentials=sa_credentials(rsa_key))
    store = GcsBlobStore(bucket.name, client=signing_client)

    url = store.signed_put_url("uploads/u3/a.flac", "application/octet-stream", 60, 268435456)

    assert_valid_v4_signature(url, rsa_key, "application/octet-stream", "0,268435456")
    with pytest.raises(InvalidSignature):  # a client that widens the range breaks it
        assert_valid_v4_signature(url, rsa_key, "application/octet-stream", "0,268435457")


def test_signed_put_url_needs_a_signer(gcs_client: Client, bucket: Bucket) -> None:
    client = Client(project="test-project", credentials=TokenOnlyCredentials())
    with pytest.raises(RuntimeError, match="signing service account"):
        GcsBlobStore(bucket.name, client=client).signed_put_url("k", "audio/wav", 60)


def test_keys_lists_by_prefix(store: GcsBlobStore, tmp_path: Path) -> None:
    for key in ("outputs/1/a.mp3", "outputs/2/b.mp3", "uploads/c.wav"):
        store.put_file(key, write(tmp_path / "f", b"x"), "audio/wav")
    assert sorted(store.keys("outputs/")) == ["outputs/1/a.mp3", "outputs/2/b.mp3"]
    assert len(list(store.keys(""))) >= 3
