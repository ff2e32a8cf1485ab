"""Routes of tasks: upload a file to convert, list, read, convert again, delete
(``/api/tasks`` and ``/api/tasks/<id>``; the downloads are in ``routes.downloads``)."""

from __future__ import annotations

from flask import Flask, Response, g, jsonify, request

from audioconv.domain.errors import InvalidInput
from audioconv.domain.options import OPTION_FIELDS
from audioconv.entrypoints import schemas as s
from audioconv.entrypoints import upload_parsing
from audioconv.entrypoints.routes import batches as batch_routes
from audioconv.entrypoints.routes.openapi import Body, Operation, Reply, doc
from audioconv.entrypoints.schemas import MAX_FIELD_CHARS
from audioconv.entrypoints.views import task_json
from audioconv.entrypoints.web import json_body, login_required, validated
from audioconv.services import batches, presets, profile, tasks, url_import
from audioconv.services.dependencies import Dependencies
from audioconv.services.direct_uploads import INCOMING


def register(app: Flask, deps: Dependencies) -> None:
    @app.post("/api/tasks")
    @doc(Operation(
        "Upload a file and convert it",
        {201: Reply("the task; for several files, their batch", schema=batch_routes.TASK_OR_BATCH)},
        (400, 401, 404, 413, 415, 429),
        Body(("multipart/form-data",), s.UploadForm, raw=("application/octet-stream",),
             more={"application/json": s.UrlImportBody}),
        query=s.RawUploadQuery, auth=True,
        description="The file as a multipart form, or as the raw body (also `audio/*`) "
        "with its fields in the query, or (JSON) a `sourceUrl` the server fetches the file "
        "from: the task shows `downloading` until the file has arrived, and fails with the "
        "reason if it cannot be fetched (a list of URLs: one task each, in one batch). "
        "Several `fileName` parts: one task each, all in "
        "one batch (`batch`, or a new one), answered with the batch; a file that is not "
        "audio becomes a failed task there, with the reason. An audio file and its `.cue` "
        "sheet: the album cut into its tracks at their INDEX 01, sample-exact, a task each "
        "in one batch (a sheet that cannot be read is a 400 naming its line, and nothing "
        "is stored). 404 for a `batch` that is "
        "not yours; 413 over the upload limit or the stored-bytes quota, or when the "
        "output could outgrow the output limit (the message says what to choose "
        "instead); 429 with too many tasks in flight.",
    ))  # fmt: skip
    @login_required
    def create_task() -> tuple[Response, int]:
        if request.is_json:
            return _import_urls(deps)
        spool = deps.settings.resolved_work_dir / INCOMING
        fields = ("newFormat", "webhookUrl", "batch", presets.FIELD, *OPTION_FIELDS)
        upload = upload_parsing.receive(spool, fields, MAX_FIELD_CHARS * 4)
        try:
            form = validated(s.UploadFields, presets.apply(deps, g.user_id, upload.fields))
            if len(upload.files) > 1:
                return batch_routes.create_many(deps, upload, form)
            file_name = validated(s.FileName, {"fileName": upload.file_name}).file_name
            webhook_url = profile.checked_url(deps, form.webhook_url)
            batches.check_batch(deps, g.user_id, form.batch)
            task = tasks.create_task(deps, g.user_id, upload.path, file_name, form.target,
                                     form.conversion_options, take_file=True,
                                     webhook_url=webhook_url, batch_id=form.batch)  # fmt: skip
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
        query = validated(s.TaskQuery, request.args)
        found = tasks.list_tasks(deps, g.user_id, query.max, descending=query.order == "1")
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
        names = ("newFormat", "webhookUrl", presets.FIELD, *OPTION_FIELDS)
        source = upload_parsing.one_value_each(request.form, names) if body is None else body
        change = validated(s.ChangeFormatBody, presets.apply(deps, g.user_id, source))
        webhook_url: str | None = tasks.UNCHANGED
        if "webhook_url" in change.model_fields_set:
            webhook_url = profile.checked_url(deps, change.webhook_url)
        task = tasks.change_format(deps, g.user_id, task_id, change.target,
                                   change.conversion_options, webhook_url=webhook_url)  # fmt: skip
        return jsonify(task_json(task))

    @app.delete("/api/tasks/<int:task_id>")
    @doc(Operation("Delete a task and its files", {204: Reply("deleted")}, (401, 404), auth=True))
    @login_required
    def delete_task(task_id: int) -> tuple[str, int]:
        tasks.delete_task(deps, g.user_id, task_id)
        return "", 204


def _import_urls(deps: Dependencies) -> tuple[Response, int]:
    """``POST /api/tasks`` with ``sourceUrl`` (a URL, or a list of them: a batch)."""
    body = validated(s.UrlImportBody, presets.apply(deps, g.user_id, json_body()))
    raw = body.source_url
    if raw is None or raw == [] or raw == "":
        raise InvalidInput("missing field 'sourceUrl': the http(s) URL of the file to convert")
    many = isinstance(raw, list)
    urls = [url_import.checked_url(deps, url) for url in (raw if many else [raw])]
    webhook_url = profile.checked_url(deps, body.webhook_url)
    batches.check_batch(deps, g.user_id, body.batch)
    options = body.conversion_options
    if many:
        view = url_import.import_urls(deps, g.user_id, urls, body.target, options, body.batch,
                                      webhook_url)  # fmt: skip
        return jsonify(batch_routes.batch_json(view)), 201
    task = url_import.import_url(deps, g.user_id, urls[0], body.target, options, webhook_url,
                                 body.batch)  # fmt: skip
    return jsonify(task_json(task)), 201
