"""Resumable uploads for the CLI: tus 1.0 with tuspy (``/api/uploads/tus``).

Each upload's URL is remembered in the user's cache folder, keyed by the server, the
file (path, size, modification time, its first 64 KiB) and what it is converted to,
so a ``convert`` that was interrupted (a dropped connection the retries could not
ride out, ^C, a crash) goes on from the server's offset when it is run again. A
finished upload's URL is forgotten.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from platformdirs import user_cache_path
from tusclient import client as tus
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.fingerprint.fingerprint import Fingerprint
from tusclient.storage.filestorage import FileStorage

# Bytes per PATCH: under App Engine's 32 MB request limit; a broken one costs at most this.
CHUNK_BYTES = int(os.environ.get("AUDIOCONV_TUS_CHUNK_BYTES", 16 * 1024 * 1024))
# Retries of a failed PATCH within one run (each asks the server's offset first).
RETRIES = int(os.environ.get("AUDIOCONV_TUS_RETRIES", 5))
RETRY_DELAY = float(os.environ.get("AUDIOCONV_TUS_RETRY_DELAY", 1.0))
PATH = "/api/uploads/tus"


class ResumableUnavailable(Exception):
    """The server takes no resumable uploads (an older one, or the cloud's)."""


class UploadFailed(Exception):
    """The upload stopped; run the same command again to go on from where it stopped."""


def state_path() -> Path:
    folder = user_cache_path("audioconv")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "uploads.json"


class _Fingerprint(Fingerprint):  # type: ignore[misc]
    """The file's own fingerprint (size, first block), with where it goes and as what."""

    def __init__(self, scope: str) -> None:
        self.scope = scope

    def get_fingerprint(self, fs: IO[bytes]) -> str:
        own = str(super().get_fingerprint(fs))
        return f"{hashlib.sha256(self.scope.encode()).hexdigest()[:32]}--{own}"


def supported(server: str, session: Any) -> bool:
    """Whether ``server`` takes tus uploads (``OPTIONS`` answers with its version)."""
    try:
        answer = session.options(f"{server}{PATH}", timeout=30)
    except OSError:
        return False
    return answer.status_code == 204 and "1.0.0" in answer.headers.get("Tus-Version", "")


def scope_of(server: str, path: Path, fields: Mapping[str, str]) -> str:
    """What makes an upload the same one: server, file (path, size, time) and fields."""
    stat = path.stat()
    return "|".join([server, str(path.resolve()), str(stat.st_size), str(stat.st_mtime_ns),
                     *(f"{k}={v}" for k, v in sorted(fields.items()))])  # fmt: skip


def upload(
    server: str,
    token: str,
    path: Path,
    fields: Mapping[str, str],
    on_bytes: Callable[[int, int], None],
) -> str:
    """Upload ``path`` (going on with an earlier, unfinished upload of it, if the server
    still has it); the upload id. UploadFailed when it stops before the end."""
    stat = path.stat()
    scope = scope_of(server, path, fields)
    storage = FileStorage(str(state_path()))  # type: ignore[no-untyped-call]
    fingerprint = _Fingerprint(scope)
    client = tus.TusClient(f"{server}{PATH}", headers={"Authorization": f"Bearer {token}"})
    metadata = {"filename": path.name, **fields}

    def uploader() -> Any:
        return client.uploader(
            file_path=str(path), chunk_size=CHUNK_BYTES, metadata=metadata, store_url=True,
            url_storage=storage, fingerprinter=fingerprint, retries=RETRIES,
            retry_delay=RETRY_DELAY,
        )  # fmt: skip

    try:
        try:
            job = uploader()
        except TusCommunicationError:  # the remembered upload is gone (finished, expired)
            with path.open("rb") as fh:
                storage.remove_item(fingerprint.get_fingerprint(fh))
            job = uploader()
        on_bytes(job.offset, stat.st_size)
        if not job.url:
            job.set_url(job.create_url())
            job.offset = 0
        while job.offset < stat.st_size:
            job.upload_chunk()
            on_bytes(job.offset, stat.st_size)
    except (TusCommunicationError, TusUploadFailed, OSError) as exc:
        raise UploadFailed(
            f"upload stopped ({_why(exc)}); run the same command again to go on from there"
        ) from None
    with path.open("rb") as fh:
        storage.remove_item(fingerprint.get_fingerprint(fh))
    return str(job.url).rstrip("/").rsplit("/", 1)[1]


def _why(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "response_content", None)
    if status:
        text = body.decode(errors="replace")[:200] if isinstance(body, bytes) else ""
        return f"the server answered {status} {text}".strip()
    return str(exc) or type(exc).__name__


def wait_for_task(
    request: Callable[..., Any], upload_id: str, limit: float = 600.0, poll: float = 0.5
) -> dict[str, Any]:
    """The task a finished upload became (``GET /api/uploads/<id>``)."""
    deadline = time.monotonic() + limit
    while True:
        answer = request("GET", f"/api/uploads/{upload_id}")
        if answer.status_code == 200:
            return dict(answer.json())
        if time.monotonic() > deadline:
            raise UploadFailed(f"the server never made a task of upload {upload_id}")
        time.sleep(poll)


# Cloud Storage resumable sessions (the cloud, where the server takes no tus): pieces
# must be multiples of 256 KiB, but for the last.
PIECE_BYTES = max(256 * 1024, CHUNK_BYTES // (256 * 1024) * (256 * 1024))


def _sessions() -> Path:
    return state_path().with_name("sessions.json")


def _remembered() -> dict[str, dict[str, str]]:
    try:
        found = json.loads(_sessions().read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _remember(scope: str, ticket: dict[str, str] | None) -> None:
    found = _remembered()
    if ticket is None:
        found.pop(scope, None)
    else:
        found[scope] = ticket
    tmp = _sessions().with_suffix(".tmp")
    tmp.write_text(json.dumps(found))
    tmp.replace(_sessions())


def _stored_bytes(session: Any, url: str, size: int) -> int | None:
    """How many bytes a Cloud Storage session holds; None when it is gone or done."""
    answer = session.put(url, headers={"Content-Range": f"bytes */{size}"}, timeout=60)
    if answer.status_code == 308:
        last = answer.headers.get("Range", "").rpartition("-")[2]
        return int(last) + 1 if last.isdigit() else 0
    return None


def session_upload(
    start: Callable[[], dict[str, Any]],
    session: Any,
    scope: str,
    path: Path,
    on_bytes: Callable[[int, int], None],
) -> str:
    """Upload ``path`` to a Cloud Storage resumable session (``start`` asks the API for
    one), going on with a session an interrupted run left; the upload id."""
    size = path.stat().st_size
    ticket = _remembered().get(scope)
    offset = _stored_bytes(session, ticket["url"], size) if ticket else None
    if ticket is None or offset is None:
        made = start()
        ticket = {"url": str(made["url"]), "uploadId": str(made["uploadId"])}
        _remember(scope, ticket)
        offset = 0
    retries = 0
    with path.open("rb") as fh:
        while offset < size:
            on_bytes(offset, size)
            fh.seek(offset)
            piece = fh.read(PIECE_BYTES)
            last = offset + len(piece) - 1
            span = {"Content-Range": f"bytes {offset}-{last}/{size}"}
            try:
                answer = session.put(ticket["url"], data=piece, timeout=(60, 3600), headers=span)
                if answer.status_code not in (200, 201, 308):
                    raise UploadFailed(f"Cloud Storage answered {answer.status_code}")
                offset = last + 1 if answer.status_code != 308 else _stored_bytes(
                    session, ticket["url"], size) or 0  # fmt: skip
                retries = 0
            except (OSError, UploadFailed) as exc:  # requests' errors are OSErrors
                retries += 1
                if retries > RETRIES:
                    raise UploadFailed(
                        f"upload stopped ({exc}); run the same command again to go on from there"
                    ) from None
                time.sleep(RETRY_DELAY)
                stored = _stored_bytes(session, ticket["url"], size)
                if stored is None:
                    break  # done after all (the answer was lost), or gone
                offset = stored
    on_bytes(size, size)
    _remember(scope, None)
    return ticket["uploadId"]
