"""Blob store on Google Cloud Storage; every transfer is streamed in chunks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, cast

import google.auth.transport.requests
from google.api_core.exceptions import NotFound, PreconditionFailed
from google.auth.credentials import AnonymousCredentials, Credentials, Signing
from google.cloud.storage import Blob, Client

from audioconv.http_files import attachment

# Resumable uploads send (and hold in memory) one chunk at a time; the library's
# default chunk is 100 MiB, so set our own. Must be a multiple of 256 KiB.
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
# Ranged reads for open_read (the library default is 40 MiB per read).
READ_CHUNK_BYTES = 4 * 1024 * 1024
# Seconds the readiness check waits for Cloud Storage.
CHECK_TIMEOUT = 5.0
# Signed into upload URLs: the PUT only succeeds if the object does not exist yet.
CREATE_ONLY = {"x-goog-if-generation-match": "0"}
# Signed into upload URLs given a size limit: Cloud Storage refuses a larger body.
LENGTH_RANGE = "x-goog-content-length-range"


class GcsBlobStore:
    """Blobs in one bucket. ``signer_email`` signs URLs via IAM when there is no key."""

    def __init__(self, bucket: str, client: Client | None = None, signer_email: str = "") -> None:
        self.client = client or Client()
        self.bucket = self.client.bucket(bucket)
        self.signer_email = signer_email

    def _blob(self, key: str) -> Blob:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid blob key {key!r}")
        return self.bucket.blob(key, chunk_size=UPLOAD_CHUNK_BYTES)

    def put_file(
        self, key: str, path: Path, content_type: str, *, if_absent: bool = False,
        move: bool = False,
    ) -> None:  # fmt: skip
        # Files over 8 MiB go up as a resumable upload, one chunk in memory at a time.
        try:
            self._blob(key).upload_from_filename(
                str(path), content_type=content_type, if_generation_match=0 if if_absent else None
            )
        except PreconditionFailed:
            raise FileExistsError(key) from None

    def local_path(self, key: str) -> Path | None:
        """None: the blobs are in Cloud Storage (``download_to`` fetches one)."""
        return None

    def download_to(self, key: str, path: Path) -> None:
        blob = self._blob(key)
        blob.chunk_size = None  # one streamed GET instead of many ranged ones
        try:
            blob.download_to_filename(str(path))
        except NotFound:
            raise KeyError(key) from None

    def open_read(self, key: str) -> IO[bytes]:
        # Fetch the metadata first: a missing blob fails here, and the reader is
        # pinned to this generation, so a concurrent overwrite cannot mix versions.
        blob = self.bucket.get_blob(self._blob(key).name)
        if blob is None:
            raise KeyError(key)
        return cast(IO[bytes], blob.open("rb", chunk_size=READ_CHUNK_BYTES))

    def size(self, key: str) -> int | None:
        blob = self.bucket.get_blob(self._blob(key).name)
        return None if blob is None else cast(int, blob.size)

    def keys(self, prefix: str) -> Iterator[str]:
        for blob in self.bucket.list_blobs(prefix=prefix):
            yield str(blob.name)

    def check(self) -> None:
        """List at most one object under a prefix nothing uses: NotFound for a missing
        bucket, Forbidden without access, a connection error for an unreachable
        service; at once (no retries) and within CHECK_TIMEOUT seconds. Listing
        objects needs only what the services hold (roles/storage.objectAdmin), where
        reading the bucket's own metadata would need storage.buckets.get."""
        blobs = self.client.list_blobs(
            self.bucket, prefix=".readyz/", max_results=1, timeout=CHECK_TIMEOUT, retry=None
        )
        next(iter(blobs), None)

    def delete(self, key: str) -> None:
        with contextlib.suppress(NotFound):
            self._blob(key).delete()

    def signed_put_url(
        self, key: str, content_type: str, ttl_seconds: int, max_bytes: int | None = None
    ) -> str:
        """A V4 signed URL to PUT the blob directly, once.

        The client must send ``content_type`` and ``x-goog-if-generation-match: 0``
        (both signed): the latter makes Cloud Storage refuse the PUT once the object
        exists, so the URL cannot overwrite an upload that already became a task.
        With ``max_bytes``, ``x-goog-content-length-range: 0,<max_bytes>`` is signed
        too (the client must send it), and Cloud Storage refuses a larger body.
        """
        headers = dict(CREATE_ONLY)
        if max_bytes is not None:
            headers[LENGTH_RANGE] = f"0,{max_bytes}"
        return self._sign(key, "PUT", ttl_seconds, content_type=content_type, headers=headers)

    def resumable_upload_url(self, key: str, content_type: str, size: int) -> str | None:
        """A Cloud Storage resumable upload session for ``size`` bytes, made with our
        credentials and good for a week: the client PUTs ``Content-Range`` pieces to it
        (and ``Content-Range: bytes */<size>`` to ask how far it got, a 308 with
        ``Range``); it creates the object only if absent, so it cannot replace one."""
        url = self._blob(key).create_resumable_upload_session(
            content_type=content_type, size=size, if_generation_match=0
        )
        return str(url)

    def key_for_upload(self, token: str) -> str | None:
        """None: signed upload URLs point at Cloud Storage, never at the API."""
        return None

    def signed_get_url(
        self, key: str, filename: str, content_type: str, ttl_seconds: int
    ) -> str | None:
        """A V4 signed URL to GET the blob for ``ttl_seconds``; Cloud Storage answers it
        with ``content_type`` and ``Content-Disposition: attachment`` naming ``filename``
        (both signed into the URL's query).

        None for an anonymous client (only the storage emulator takes one): it cannot
        sign, so the API streams the file instead.
        """
        if isinstance(self.client._credentials, AnonymousCredentials):
            return None
        return self._sign(
            key,
            "GET",
            ttl_seconds,
            response_type=content_type,
            response_disposition=attachment(filename),
        )

    def _sign(self, key: str, method: str, ttl_seconds: int, **options: Any) -> str:
        """A V4 signed URL for one method on the blob.

        With a key file the client's credentials sign locally. Without one (App
        Engine, Cloud Run) they are refreshed and the URL is signed by the IAM
        signBlob API as ``signer_email`` (which needs roles/iam.serviceAccountTokenCreator
        on itself).
        """
        credentials = cast(Credentials, self.client._credentials)
        extra: dict[str, Any] = {}
        if not isinstance(credentials, Signing):
            if not credentials.valid:
                credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]
            email = self.signer_email or getattr(credentials, "service_account_email", "")
            if not email or email == "default":
                raise RuntimeError(
                    "cannot sign URLs: credentials have no private key and no "
                    "signing service account is configured"
                )
            extra = {"service_account_email": email, "access_token": credentials.token}
        return cast(
            str,
            self._blob(key).generate_signed_url(
                version="v4",
                expiration=timedelta(seconds=ttl_seconds),
                method=method,
                **options,
                **extra,
            ),
        )
