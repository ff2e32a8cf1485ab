"""Routes of tasks: upload a file to convert, list, read, convert again, delete
(``/api/tasks`` and ``/api/tasks/<id>``; the downloads are in ``routes.downloads``)."""

from __future__ import annotations

import re

from flask import Flask, Response, g, jsonify, request

from audioconv.domain.errors import InvalidInput
from audioconv.domain.model import MAX_ID
from audioconv.domain.options import OPTION_FIELDS
from audioconv.entrypoints import schemas as s
from audioconv.entrypoints import upload_parsing
from audioconv.entrypoints.routes import batches as batch_routes
from audioconv.entrypoints.routes.openapi import Body, Operation, Reply, doc
from audioconv.entrypoints.views import task_json
from audioconv.entrypoints.web import (
    MAX_FIELD_CHARS,
    json_body,
    login_required,
    option_fields,
    text_field,
)
from audioconv.services import profile, tasks
from audioconv.services.dependencies import Dependencies
from audioconv.services.direct_uploads import INCOMING


def register(app: Flask, deps: Dependencies) -> None:
    @app.post("/api/tasks")
    @doc(Operation(
        "Upload a file and convert it",
        {201: Reply("the task; for several files, their batch", schema=batch_routes.TASK_OR_BATCH)},
        (400, 401, 404, 413, 415, 429),
        Body(("multipart/form-data",), s.UploadForm, raw=("application/octet-stream",)),
        query=s.RawUploadQuery, auth=True,
        description="The file as a multipart form, or as the raw body (also `audio/*`) "
        "with its fields in the query. Several `fileName` parts: one task each, all in "
        "one batch (`batch`, or a new one), answered with the batch; a file that is not "
        "audio becomes a failed task there, with the reason. 404 for a `batch` that is "
        "not yours; 413 over the upload limit or the stored-bytes quota, or when the "
        "output could outgrow the output limit (the message says what to choose "
        "instead); 429 with too many tasks in flight.",
    ))  # fmt: skip
    @login_required
    def create_task() -> tuple[Response, int]:
        spool = deps.settings.resolved_work_dir / INCOMING
        fields = ("newFormat", "webhookUrl", "batch", *OPTION_FIELDS)
        upload = upload_parsing.receive(spool, fields, MAX_FIELD_CHARS * 4)
        try:
            if len(upload.files) > 1:
                return batch_routes.create_many(deps, upload)
            file_name = text_field(upload.file_name, "fileName")
            new_format = text_field(upload.fields.get("newFormat"), "newFormat")
            webhook_url = profile.checked_url(deps, upload.fields.get("webhookUrl"))
            batch_id = batch_routes.batch_field(deps, upload.fields)
            task = tasks.create_task(deps, g.user_id, upload.path, file_name, new_format,
                                     option_fields(upload.fields), take_file=True,
                                     webhook_url=webhook_url, batch_id=batch_id)  # fmt: skip
        finally:
            upload.discard()
        return jsonify(task_json(task)), 201

    @app.get("/api/tasks")
    @doc(Operation(
        "Your tasks", {200: Reply("the tasks", s.Task, many=True)}, (400, 401),
        query=s.TaskQuery, auth=True,
    ))  # fmt: skip
    @login_required
    def list_tasks() -> Response:
        limit = _int_arg("max", minimum=1)
        if limit is not None:
            limit = min(limit, MAX_ID)  # no one has more tasks; the database takes no more
        order = request.args.get("order", "0")
        if order not in ("0", "1"):
            raise InvalidInput("order must be 0 (ascending) or 1 (descending)")
        found = tasks.list_tasks(deps, g.user_id, limit, descending=order == "1")
        return jsonify([task_json(t) for t in found])

    @app.get("/api/tasks/<int:task_id>")
    @doc(Operation("One task", {200: Reply("the task", s.Task)}, (401, 404), auth=True))
    @login_required
    def get_task(task_id: int) -> Response:
        return jsonify(task_json(tasks.get_task(deps, g.user_id, task_id)))

    @app.put("/api/tasks/<int:task_id>")
    @doc(Operation(
        "Convert again, to another format or with other options",
        {200: Reply("the task: revision + 1, or as it was if nothing changed", s.Task)},
        (400, 401, 404, 413), auth=True,
        body=Body(("application/json", "application/x-www-form-urlencoded",
                   "multipart/form-data"), s.ChangeFormatBody),
    ))  # fmt: skip
    @login_required
    def change_format(task_id: int) -> Response:
        body = json_body() if request.is_json else None
        names = ("newFormat", "webhookUrl", *OPTION_FIELDS)
        source = upload_parsing.one_value_each(request.form, names) if body is None else body
        new_format = text_field(source.get("newFormat"), "newFormat")
        fields = option_fields(source)
        webhook_url: str | None = tasks.UNCHANGED
        if "webhookUrl" in source:
            webhook_url = profile.checked_url(deps, source.get("webhookUrl"))
        task = tasks.change_format(deps, g.user_id, task_id, new_format, fields,
                                   webhook_url=webhook_url)  # fmt: skip
        return jsonify(task_json(task))

    @app.delete("/api/tasks/<int:task_id>")
    @doc(Operation("Delete a task and its files", {204: Reply("deleted")}, (401, 404), auth=True))
    @login_required
    def delete_task(task_id: int) -> tuple[str, int]:
        tasks.delete_task(deps, g.user_id, task_id)
        return "", 204


_INTEGER = re.compile(r"-?[0-9]+")


def _int_arg(name: str, minimum: int) -> int | None:
    """A query argument in ASCII digits (``int()`` also takes ``1_0``, `` 10`` and
    non-ASCII digits)."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        if not _INTEGER.fullmatch(raw):
            raise ValueError(raw)
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer") from None
    if value < minimum:
        raise InvalidInput(f"{name} must be at least {minimum}")
    return value
