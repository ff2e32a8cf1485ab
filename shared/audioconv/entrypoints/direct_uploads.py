"""Routes for direct uploads (signed URLs), beside the main API."""

from __future__ import annotations

from flask import Flask, Response, g, jsonify, request

from audioconv.adapters.local_blob import LocalBlobStore
from audioconv.domain.errors import Forbidden, NotFound
from audioconv.entrypoints.web import (
    current_deps,
    json_body,
    json_field,
    login_required,
    option_fields,
    task_json,
)
from audioconv.services import direct_upload


def register(app: Flask) -> None:
    @app.post("/api/uploads")
    @login_required
    def start_upload() -> tuple[Response, int]:
        body = json_body()
        ticket = direct_upload.start(
            current_deps(), g.user_id, json_field(body, "fileName"), json_field(body, "newFormat"),
            option_fields(body),
        )  # fmt: skip
        return jsonify(
            uploadId=ticket.upload_id,
            method="PUT",
            url=ticket.url,
            headers=ticket.headers,
            expiresAt=ticket.expires_at.isoformat(),
            status=f"/api/uploads/{ticket.upload_id}",
        ), 201

    @app.get("/api/uploads/<upload_id>")
    @login_required
    def upload_status(upload_id: str) -> Response | tuple[Response, int]:
        task = direct_upload.find(current_deps(), g.user_id, upload_id)
        if task is None:
            return jsonify(uploadId=upload_id, status="pending"), 202
        return jsonify(task_json(task))

    @app.put("/api/blobs/<path:key>")
    def put_blob(key: str) -> tuple[Response, int]:
        """The embedded mode's stand-in for a PUT to a signed Cloud Storage URL."""
        blobs = current_deps().blobs
        if not isinstance(blobs, LocalBlobStore):
            raise NotFound("uploads go to Cloud Storage in this deployment")
        try:
            granted = blobs.key_for_upload(request.args.get("token", ""))
        except ValueError as exc:
            raise Forbidden(str(exc)) from None
        if granted != key:
            raise Forbidden("upload URL is not valid for this object")
        size = direct_upload.receive(current_deps(), key, request.stream)
        return jsonify(key=key, size=size), 200
