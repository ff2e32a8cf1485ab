"""Routes for batches: create, list, show with progress, and download as one ZIP;
and the multi-file form of ``POST /api/tasks`` (``create_many``)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, jsonify, request, stream_with_context

from audioconv.domain.errors import PayloadTooLarge
from audioconv.entrypoints import schemas as s
from audioconv.entrypoints.appengine import MAX_RESPONSE_BYTES, on_app_engine
from audioconv.entrypoints.routes.openapi import Body, Operation, Reply, doc
from audioconv.entrypoints.upload_parsing import ReceivedUpload
from audioconv.entrypoints.views import task_json
from audioconv.entrypoints.web import (
    json_body,
    login_required,
    validated,
)
from audioconv.http_files import attachment
from audioconv.services import batch_zip, batches, cue_split, profile
from audioconv.services.dependencies import Dependencies

# The answer of POST /api/tasks: one task, or (several files) their batch.
TASK_OR_BATCH = {
    "oneOf": [
        {"$ref": "#/components/schemas/Task"},
        {"$ref": "#/components/schemas/Batch"},
    ]
}


def batch_json(view: batches.BatchView, with_tasks: bool = True) -> dict[str, Any]:
    batch = view.batch
    base = f"/api/batches/{batch.id}"
    out: dict[str, Any] = {
        "id": batch.id,
        "name": batch.name,
        "createdAt": batch.created_at.isoformat(),
        "progress": view.progress.as_json(),
        "links": {"self": base, "zip": f"{base}/zip"},
    }
    if with_tasks:
        out["tasks"] = [task_json(task) for task in view.tasks]
    return out


def create_many(
    deps: Dependencies, upload: ReceivedUpload, form: s.UploadFields
) -> tuple[Response, int]:
    """``POST /api/tasks`` with several files: a task each, in one batch."""
    files = [
        batches.Upload(f.path, validated(s.FileName, {"fileName": f.file_name}).file_name)
        for f in upload.files
    ]
    # An album as one audio file and its cue sheet: a task per track.
    album = cue_split.has_cue_sheet(files)
    upload_files = cue_split.upload_album if album else batches.upload_files
    view = upload_files(
        deps, g.user_id, files, form.target, form.conversion_options, form.batch,
        webhook_url=profile.checked_url(deps, form.webhook_url),
    )  # fmt: skip
    return jsonify(batch_json(view)), 201


def register(app: Flask, deps: Dependencies) -> None:
    @app.post("/api/batches")
    @doc(Operation(
        "Start a batch to upload files into (`batch` on each upload)",
        {201: Reply("the new, empty batch", s.Batch)}, (400, 401, 413), auth=True,
        body=Body(("application/json",), s.NewBatchBody, description="may be empty"),
        tag="batches",
    ))  # fmt: skip
    @login_required
    def create_batch() -> tuple[Response, int]:
        body = validated(s.NewBatchBody, json_body() if request.get_data(cache=True) else {})
        batch = batches.create_batch(deps, g.user_id, body.name)
        view = batches.get_batch(deps, g.user_id, batch.id or 0)
        return jsonify(batch_json(view)), 201

    @app.get("/api/batches")
    @doc(Operation(
        "Your batches, oldest first, with their progress",
        {200: Reply("the batches (without their tasks)", s.BatchSummary, many=True)}, (401,),
        auth=True, tag="batches",
    ))  # fmt: skip
    @login_required
    def list_batches() -> Response:
        found = batches.list_batches(deps, g.user_id)
        return jsonify([batch_json(view, with_tasks=False) for view in found])

    @app.get("/api/batches/<int:batch_id>")
    @doc(Operation(
        "One batch: its tasks and overall progress", {200: Reply("the batch", s.Batch)},
        (401, 404), auth=True, tag="batches",
    ))  # fmt: skip
    @login_required
    def get_batch(batch_id: int) -> Response:
        return jsonify(batch_json(batches.get_batch(deps, g.user_id, batch_id)))

    @app.delete("/api/batches/<int:batch_id>")
    @doc(Operation(
        "Delete a batch with all its tasks and their files", {204: Reply("deleted")},
        (401, 404), auth=True, tag="batches",
    ))  # fmt: skip
    @login_required
    def delete_batch(batch_id: int) -> tuple[str, int]:
        batches.delete_batch(deps, g.user_id, batch_id)
        return "", 204

    @app.get("/api/batches/<int:batch_id>/zip")
    @doc(Operation(
        "Every converted file of a batch as one ZIP, with manifest.json",
        {200: Reply("the ZIP, streamed (files stored, not compressed; ZIP64 when large)",
                    file=("application/zip",),
                    headers={"Content-Disposition": "attachment; filename=..."})},
        (400, 401, 404, 413), auth=True, tag="batches", query=s.ZipQuery,
        description="Available at any time: `manifest.json` in it lists the files in "
        "(`files`: name in the ZIP, task, format, bytes), those that failed with the "
        "reason (`failed`) and those still pending (`pending`); `playlist.m3u8` beside "
        "it is an extended M3U of the files in track order. Names are made unique: "
        "`song.mp3`, `song (2).mp3`; `layout=album` puts each file at "
        "`Artist/Album/01 Title.ext` from its tags. 413 on App Engine for a ZIP over its "
        "32 MB response limit.",
    ))  # fmt: skip
    @login_required
    def batch_zip_download(batch_id: int) -> Response:
        query = validated(s.ZipQuery, request.args)
        archive = batch_zip.batch_zip(deps, g.user_id, batch_id, query.layout)
        stream = archive.stream(deps.blobs)
        if on_app_engine() and len(stream) > MAX_RESPONSE_BYTES:
            archive.close()
            raise PayloadTooLarge(
                f"this batch's ZIP would be {len(stream)} bytes, over the {MAX_RESPONSE_BYTES} "
                "bytes App Engine lets a response carry; download its files one by one (each "
                "task's links.converted), or put fewer files in a batch"
            )
        response = Response(stream_with_context(iter(stream)), mimetype="application/zip")
        response.headers["Content-Length"] = str(len(stream))
        response.headers["Content-Disposition"] = attachment(archive.file_name)
        response.headers["Cache-Control"] = "no-store"
        return response
