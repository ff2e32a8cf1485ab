"""The HTTP API (a Flask app): auth, tasks, uploads and downloads.

Routes only parse the request, call one service and shape the JSON; errors are
JSON ``{"message": ...}`` with a 4xx status.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, jsonify, request, stream_with_context
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from audioconv import bootstrap
from audioconv.domain.errors import (
    AudioconvError,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
)
from audioconv.domain.model import MAX_ID
from audioconv.domain.options import OPTION_FIELDS
from audioconv.entrypoints import batch_routes, uploads
from audioconv.entrypoints import schemas as s
from audioconv.entrypoints.appengine import client_address, request_limit
from audioconv.entrypoints.openapi import Body, Operation, Reply, doc
from audioconv.entrypoints.web import (
    MAX_FIELD_CHARS,
    body_limit,
    current_deps,
    json_body,
    json_field,
    login_required,
    may_sweep,
    option_fields,
    task_json,
    text_field,
    too_large,
)
from audioconv.ports import attachment, iter_chunks
from audioconv.services import auth, recovery, tasks
from audioconv.services.deps import Deps

log = logging.getLogger(__name__)


class AsciiIntConverter(IntegerConverter):
    """``<int:...>`` in ASCII digits only: werkzeug's ``\\d`` also takes Arabic-Indic
    or fullwidth digits, and ``int()`` reads them (``/api/tasks/\u0663`` was task 3)."""

    regex = r"[0-9]+"


def create_app(get_deps: Callable[[], Deps] = bootstrap.deps) -> Flask:
    app = Flask("audioconv")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.converters["int"] = AsciiIntConverter

    @app.before_request
    def _limits() -> None:
        g.deps = get_deps()
        request.max_content_length = request_limit(body_limit(g.deps.settings))

    _register_errors(app)
    _register_routes(app)
    from audioconv.entrypoints import direct_uploads, openapi, pages

    direct_uploads.register(app)
    batch_routes.register(app)
    pages.register(app)
    openapi.register(app)
    return app


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(message=message), status


def _register_errors(app: Flask) -> None:
    @app.errorhandler(AudioconvError)
    def _known(exc: AudioconvError) -> tuple[Response, int]:
        response, status = _error(exc.status, exc.message)
        if isinstance(exc, TooManyRequests) and exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        if status == 413:  # the rest of the body is never read
            response.headers["Connection"] = "close"
        return response, status

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> tuple[Response, int]:
        error = too_large(exc, current_deps().settings)
        response, status = _error(error.status, error.message)
        # The rest of the body is never read: the connection cannot carry another request.
        response.headers["Connection"] = "close"
        return response, status

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        return _error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return _error(500, "internal error")


def _send(download: tasks.Download) -> Response:
    """Redirect to the file's signed URL (Cloud Storage), or stream it (embedded; and
    HEAD, which has no body: its Content-Length gives the size)."""
    if download.url and request.method != "HEAD":
        # No-store: the URL expires.
        return Response(status=302, headers={"Location": download.url, "Cache-Control": "no-store"})
    try:
        stream = current_deps().blobs.open_read(download.key)
    except KeyError:  # deleted since its size was looked up
        raise NotFound(f"the file {download.name!r} is no longer stored") from None

    def body() -> Any:
        with stream:
            yield from iter_chunks(stream)

    response = Response(stream_with_context(body()), mimetype=download.mime_type)
    response.headers["Content-Length"] = str(download.size)
    response.headers["Content-Disposition"] = attachment(download.name)
    return response


# A download: the file itself, or (Cloud Storage) a redirect to a signed URL for it.
_DOWNLOAD = {
    200: Reply("the file: the converted format's MIME type, or octet-stream for an original",
               file=("audio/*", "application/octet-stream"),
               headers={"Content-Disposition": "attachment; filename=..."}),
    302: Reply("in the cloud: the file is at a short-lived signed Cloud Storage URL",
               headers={"Location": "the signed URL"}),
}  # fmt: skip


def _register_routes(app: Flask) -> None:
    @app.post("/api/auth/signup")
    @doc(Operation(
        "Create an account", {201: Reply("the new user's id and a token", s.SignedUp)},
        (400, 409, 413, 429), Body(("application/json",), s.SignupBody), tag="auth",
        description="409 if the username (NFKC, case-folded) or e-mail is taken; "
        "429 after too many sign-ups from one address.",
    ))  # fmt: skip
    def signup() -> tuple[Response, int]:
        body = json_body()
        user = auth.signup(
            current_deps(),
            json_field(body, "username"),
            json_field(body, "email"),
            json_field(body, "password1"),
            json_field(body, "password2"),
            client_address(),
        )
        return jsonify(id=user.id, token=auth.issue_token(current_deps(), user)), 201

    @app.post("/api/auth/login")
    @doc(Operation(
        "Get a token", {200: Reply("a bearer token", s.Token)}, (400, 401, 413, 429),
        Body(("application/json",), s.LoginBody), tag="auth",
        description="429 after too many failed attempts for the account or the address.",
    ))  # fmt: skip
    def login() -> Response:
        body = json_body()
        user = auth.login(
            current_deps(),
            json_field(body, "username"),
            json_field(body, "password"),
            client_address(),
        )
        return jsonify(token=auth.issue_token(current_deps(), user))

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
        "not yours; 413 over the upload limit or the stored-bytes quota; 429 with too "
        "many tasks in flight.",
    ))  # fmt: skip
    @login_required
    def create_task() -> tuple[Response, int]:
        deps = current_deps()
        spool = deps.settings.data_dir / "work" / "incoming"
        upload = uploads.receive(spool, ("newFormat", "batch", *OPTION_FIELDS),
                                 MAX_FIELD_CHARS * 4)  # fmt: skip
        try:
            if len(upload.files) > 1:
                return batch_routes.create_many(upload)
            file_name = text_field(upload.file_name, "fileName")
            new_format = text_field(upload.fields.get("newFormat"), "newFormat")
            batch_id = batch_routes.batch_field(upload.fields)
            task = tasks.create_task(deps, g.user_id, upload.path, file_name, new_format,
                                     option_fields(upload.fields), take_file=True,
                                     batch_id=batch_id)  # fmt: skip
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
        found = tasks.list_tasks(current_deps(), g.user_id, limit, descending=order == "1")
        return jsonify([task_json(t) for t in found])

    @app.get("/api/tasks/<int:task_id>")
    @doc(Operation("One task", {200: Reply("the task", s.Task)}, (401, 404), auth=True))
    @login_required
    def get_task(task_id: int) -> Response:
        return jsonify(task_json(tasks.get_task(current_deps(), g.user_id, task_id)))

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
        source = request.form if body is None else body
        new_format = text_field(source.get("newFormat"), "newFormat")
        fields = option_fields(source)
        task = tasks.change_format(current_deps(), g.user_id, task_id, new_format, fields)
        return jsonify(task_json(task))

    @app.delete("/api/tasks/<int:task_id>")
    @doc(Operation("Delete a task and its files", {204: Reply("deleted")}, (401, 404), auth=True))
    @login_required
    def delete_task(task_id: int) -> tuple[str, int]:
        tasks.delete_task(current_deps(), g.user_id, task_id)
        return "", 204

    @app.get("/api/tasks/<int:task_id>/<which>")
    @doc(Operation(
        "Download a task's original or converted file", _DOWNLOAD, (401, 404, 409),
        auth=True, params={"which": {"enum": ["original", "converted"]}},
        description="409 for the converted file of a task not processed yet.",
    ))  # fmt: skip
    @login_required
    def task_file(task_id: int, which: str) -> Response:
        return _send(tasks.task_download(current_deps(), g.user_id, task_id, which))

    @app.get("/api/files/<path:file_name>")
    @doc(Operation(
        "Download a file by its name", _DOWNLOAD, (401, 404, 409), auth=True,
        description="By the original name: the converted file once processed, the "
        "original before; by the converted name: the converted file.",
    ))  # fmt: skip
    @login_required
    def file_by_name(file_name: str) -> Response:
        return _send(tasks.file_download(current_deps(), g.user_id, file_name))

    @app.get("/healthz")
    @doc(Operation("Liveness", {200: Reply("alive", s.Health)}, tag="service"))
    def health() -> Response:
        return jsonify(status="ok")

    @app.route("/api/internal/sweep", methods=["GET", "POST"])
    @doc(Operation(
        "Republish what is due (the scheduler's route)",
        {200: Reply("what was republished", s.SweepResult)}, (403,), tag="service",
        description="Allowed to App Engine cron (`X-Appengine-Cron: true`, on App Engine "
        "only), to `Authorization: Bearer <AUDIOCONV_SWEEP_TOKEN>`, and to loopback clients.",
    ))  # fmt: skip
    def sweep() -> Response:
        if not may_sweep(current_deps().settings):
            raise Forbidden(
                "only the scheduler may call this route: App Engine cron, a caller with "
                "the sweep token (AUDIOCONV_SWEEP_TOKEN), or one on this machine"
            )
        result = recovery.sweep(current_deps())
        return jsonify(conversions=result.conversions, notifications=result.notifications)


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
