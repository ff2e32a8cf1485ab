"""Routes of direct uploads: a signed URL to PUT a file to, the task it became, and
(embedded) the PUT itself."""

from __future__ import annotations

from flask import Flask, Response, g, jsonify, request

from audioconv.domain.errors import Forbidden, NotFound
from audioconv.entrypoints import schemas as s
from audioconv.entrypoints.routes.openapi import Body, Operation, Reply, doc
from audioconv.entrypoints.views import task_json
from audioconv.entrypoints.web import json_body, login_required, validated
from audioconv.services import batches, direct_uploads, presets, profile
from audioconv.services.dependencies import Dependencies


def register(app: Flask, deps: Dependencies) -> None:
    @app.post("/api/uploads")
    @doc(Operation(
        "Start a direct upload: a signed URL to PUT the file to",
        {201: Reply("where and how to PUT the file", s.UploadTicket)},
        (400, 401, 404, 413, 429),
        Body(("application/json",), s.StartUploadBody), auth=True, tag="uploads",
        description="404 for a `batch` that is not yours.",
    ))  # fmt: skip
    @login_required
    def start_upload() -> tuple[Response, int]:
        body = validated(s.StartUploadBody, presets.apply(deps, g.user_id, json_body()))
        webhook_url = profile.checked_url(deps, body.webhook_url)
        batches.check_batch(deps, g.user_id, body.batch)
        ticket = direct_uploads.start(
            deps, g.user_id, body.file_name, body.target, body.conversion_options,
            webhook_url=webhook_url, batch_id=body.batch, resumable_size=body.resumable_size,
        )  # fmt: skip
        return jsonify(
            uploadId=ticket.upload_id,
            method="PUT",
            url=ticket.url,
            headers=ticket.headers,
            expiresAt=ticket.expires_at.isoformat(),
            status=f"/api/uploads/{ticket.upload_id}",
            resumable=ticket.resumable,
        ), 201

    @app.get("/api/uploads/<upload_id>")
    @doc(Operation(
        "The task a direct upload became",
        {200: Reply("the task", s.Task),
         202: Reply("the file has not arrived yet", s.UploadPending)},
        (401, 404), auth=True, tag="uploads",
    ))  # fmt: skip
    @login_required
    def upload_status(upload_id: str) -> Response | tuple[Response, int]:
        task = direct_uploads.find(deps, g.user_id, upload_id)
        if task is None:
            return jsonify(uploadId=upload_id, status="pending"), 202
        return jsonify(task_json(task))

    @app.put("/api/blobs/<path:key>")
    @doc(Operation(
        "Receive a direct upload's file (embedded mode; the ticket's URL)",
        {200: Reply("stored", s.BlobStored)}, (400, 403, 404, 409, 413, 415),
        Body(("application/octet-stream",), description="the file's bytes"),
        query=s.BlobQuery, tag="uploads",
        description="400 without a `token`; 403 for a URL that is not signed for this "
        "key; 409 if the URL was used already; 404 when uploads go to Cloud Storage "
        "instead.",
    ))  # fmt: skip
    def put_blob(key: str) -> tuple[Response, int]:
        """The embedded mode's stand-in for a PUT to a signed Cloud Storage URL."""
        query = validated(s.BlobQuery, request.args)
        try:
            granted = deps.blobs.key_for_upload(query.token)
        except ValueError as exc:
            raise Forbidden(str(exc)) from None
        if granted is None:
            raise NotFound("uploads go to Cloud Storage in this deployment")
        if granted != key:
            raise Forbidden("upload URL is not valid for this object")
        size = direct_uploads.receive(deps, key, request.stream)
        return jsonify(key=key, size=size), 200
