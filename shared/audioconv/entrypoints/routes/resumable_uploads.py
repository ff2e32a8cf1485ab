"""Routes of resumable uploads: the tus 1.0 protocol at ``/api/uploads/tus`` (core,
creation, termination, expiration, checksum; services/resumable.py). A finished
upload becomes a task as a direct upload does: ``GET /api/uploads/<id>``."""

from __future__ import annotations

from typing import IO

from flask import Flask, Response, g, request
from werkzeug.exceptions import ClientDisconnected, HTTPException, PreconditionFailed

from audioconv.domain.errors import InvalidInput, UnsupportedMedia
from audioconv.domain.options import OPTION_FIELDS
from audioconv.entrypoints import schemas as s
from audioconv.entrypoints.routes.openapi import Body, Operation, Reply, doc
from audioconv.entrypoints.web import login_required, validated
from audioconv.services import profile, resumable
from audioconv.services.dependencies import Dependencies

BASE = "/api/uploads/tus"
OFFSET_TYPE = "application/offset+octet-stream"
_VERSION = {"Tus-Resumable": (True, {"type": "string", "const": "1.0.0"})}
_BYTES = {"type": "string", "pattern": "^[0-9]{1,18}$"}


class ChecksumFailed(HTTPException):
    code = 460
    description = "the body does not match Upload-Checksum; nothing of it was kept"


def _http_date(upload: resumable.Upload) -> str:
    return upload.expires_at.strftime("%a, %d %b %Y %H:%M:%S GMT")


def _answer(status: int, headers: dict[str, str] | None = None) -> Response:
    response = Response(status=status)
    response.headers["Tus-Resumable"] = resumable.VERSION
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _check_version() -> None:
    if request.headers.get("Tus-Resumable") != resumable.VERSION:
        raise PreconditionFailed(f"send Tus-Resumable: {resumable.VERSION}")


def _length(name: str) -> int:
    raw = request.headers.get(name, "")
    if not raw.isascii() or not raw.isdigit():
        raise InvalidInput(f"{name} must be a whole number of bytes")
    return int(raw)


class _Body:
    """The PATCH body; a connection that breaks before its Content-Length is EOFError."""

    def __init__(self, stream: IO[bytes], length: int | None) -> None:
        self.stream, self.left = stream, length

    def read(self, size: int) -> bytes:
        try:
            chunk = self.stream.read(size)
        except ClientDisconnected:
            raise EOFError("the connection broke") from None
        if self.left is not None:
            if not chunk and self.left > 0:
                raise EOFError("the connection broke")
            self.left -= len(chunk)
        return chunk


# What Upload-Metadata may say besides the file name: the fields of an upload.
_FIELDS = ("newFormat", "batch", "webhookUrl", *OPTION_FIELDS)


def register(app: Flask, deps: Dependencies) -> None:
    @app.route(BASE, methods=["OPTIONS"], provide_automatic_options=False)
    @doc(Operation(
        "What this tus server supports",
        {204: Reply("its version, extensions, limits", headers={
            "Tus-Version": "1.0.0", "Tus-Extension": resumable.EXTENSIONS,
            "Tus-Max-Size": "bytes", "Tus-Checksum-Algorithm": "sha1,sha256,md5"})},
        (404,), tag="uploads", description="404 where uploads go to Cloud Storage instead "
        "(the cloud: `POST /api/uploads`).",
    ))  # fmt: skip
    def tus_options() -> Response:
        resumable.check_available(deps)
        return _answer(204, {
            "Tus-Version": resumable.VERSION, "Tus-Extension": resumable.EXTENSIONS,
            "Tus-Max-Size": str(deps.settings.max_upload_bytes),
            "Tus-Checksum-Algorithm": ",".join(resumable.CHECKSUMS),
        })  # fmt: skip

    @app.post(BASE)
    @doc(Operation(
        "Start a resumable upload (tus 1.0 creation)",
        {201: Reply("created: PATCH the bytes to `Location`", headers={
            "Location": "the upload's URL", "Tus-Resumable": "1.0.0",
            "Upload-Expires": "when an unfinished upload is removed"})},
        (400, 401, 404, 412, 413, 429), auth=True, tag="uploads",
        headers={**_VERSION, "Upload-Length": (True, _BYTES),
                 "Upload-Metadata": (True, {"type": "string", "maxLength": 8192})},
        description="Headers: `Tus-Resumable: 1.0.0`, `Upload-Length` (bytes), "
        "`Upload-Metadata`: base64 values of `filename`, `newFormat`, and optionally "
        "`batch`, `webhookUrl` and any conversion option (`bitrate`, ...), as for a direct "
        "upload. Checked now: format, options, batch, size limit and quota. The last "
        "PATCH makes the task; `GET /api/uploads/{id}` (the id is `Location`'s last part) "
        "finds it.",
    ))  # fmt: skip
    @login_required
    def tus_create() -> Response:
        _check_version()
        if "Upload-Defer-Length" in request.headers:
            raise InvalidInput("Upload-Defer-Length is not supported: send Upload-Length")
        length = _length("Upload-Length")
        metadata = resumable.parse_metadata(request.headers.get("Upload-Metadata"))
        fields = validated(s.UploadFields, {k: v for k, v in metadata.items() if k in _FIELDS})
        webhook_url = profile.checked_url(deps, fields.webhook_url)
        upload = resumable.create(deps, g.user_id, length, resumable.named_file(metadata),
                                  fields.new_format, fields.conversion_options, webhook_url,
                                  fields.batch)  # fmt: skip
        return _answer(201, {"Location": f"{BASE}/{upload.upload_id}",
                             "Upload-Expires": _http_date(upload)})  # fmt: skip

    @app.route(f"{BASE}/<upload_id>", methods=["HEAD"])
    @doc(Operation(
        "How much of a resumable upload is stored (tus 1.0)",
        {200: Reply("its offset and length", headers={
            "Upload-Offset": "bytes stored", "Upload-Length": "bytes in all",
            "Upload-Expires": "when it is removed if unfinished"})},
        (401, 404, 412), auth=True, tag="uploads", headers=_VERSION,
    ))  # fmt: skip
    @login_required
    def tus_head(upload_id: str) -> Response:
        _check_version()
        upload = resumable.offset_of(deps, g.user_id, upload_id)
        return _answer(200, {"Upload-Offset": str(upload.offset),
                             "Upload-Length": str(upload.length),
                             "Upload-Expires": _http_date(upload)})  # fmt: skip

    @app.patch(f"{BASE}/<upload_id>")
    @doc(Operation(
        "Send the next bytes of a resumable upload (tus 1.0)",
        {204: Reply("stored; the new offset (the last PATCH made the task: "
                    "`GET /api/uploads/{id}`)", headers={
                        "Upload-Offset": "bytes stored", "Upload-Expires": "expiry"})},
        (400, 401, 404, 409, 412, 415), auth=True, tag="uploads",
        body=Body((), raw=(OFFSET_TYPE,)),
        headers={**_VERSION, "Upload-Offset": (True, _BYTES),
                 "Upload-Checksum": (False, {
                     "type": "string", "pattern": "^(sha1|sha256|md5) [A-Za-z0-9+/=]{1,100}$"})},
        description="Headers: `Tus-Resumable`, `Upload-Offset` (must be the upload's: "
        "409 otherwise), `Content-Type: application/offset+octet-stream`, optionally "
        "`Upload-Checksum: sha1 <base64>` (460 on a mismatch, nothing kept). A body cut "
        "short keeps what arrived: `HEAD` says where to go on from.",
    ))  # fmt: skip
    @login_required
    def tus_patch(upload_id: str) -> Response:
        _check_version()
        if request.mimetype != OFFSET_TYPE:
            raise UnsupportedMedia(f"send the bytes as Content-Type: {OFFSET_TYPE}")
        offset = _length("Upload-Offset")
        body = _Body(request.stream, request.content_length)
        try:
            upload = resumable.append(deps, g.user_id, upload_id, offset, body,
                                      request.headers.get("Upload-Checksum"))  # fmt: skip
        except resumable.ChecksumMismatch:
            raise ChecksumFailed() from None
        except EOFError:
            raise InvalidInput("the connection broke; HEAD the upload and go on") from None
        headers = {"Upload-Offset": str(upload.offset), "Upload-Expires": _http_date(upload)}
        if upload.task is not None:
            headers["Location"] = f"/api/uploads/{upload.upload_id}"
        return _answer(204, headers)

    @app.delete(f"{BASE}/<upload_id>")
    @doc(Operation(
        "End a resumable upload and drop its bytes (tus 1.0 termination)",
        {204: Reply("ended")}, (401, 404, 409, 412), auth=True, tag="uploads",
        headers=_VERSION,
    ))  # fmt: skip
    @login_required
    def tus_delete(upload_id: str) -> Response:
        _check_version()
        resumable.terminate(deps, g.user_id, upload_id)
        return _answer(204)
