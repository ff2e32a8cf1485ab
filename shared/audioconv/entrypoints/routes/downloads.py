"""Routes of downloads: a task's original or converted file, or a file by its name.

In the cloud they redirect to a short-lived signed Cloud Storage URL (responses
over 32 MB cannot leave App Engine); embedded, they stream the file.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, request, stream_with_context

from audioconv.domain.errors import NotFound
from audioconv.entrypoints.routes.openapi import Operation, Reply, doc
from audioconv.entrypoints.web import login_required
from audioconv.http_files import attachment, iter_chunks
from audioconv.services import tasks
from audioconv.services.dependencies import Dependencies

# A download: the file itself, or (Cloud Storage) a redirect to a signed URL for it.
_DOWNLOAD = {
    200: Reply("the file: the converted format's MIME type, or octet-stream for an original",
               file=("audio/*", "application/octet-stream"),
               headers={"Content-Disposition": "attachment; filename=..."}),
    302: Reply("in the cloud: the file is at a short-lived signed Cloud Storage URL",
               headers={"Location": "the signed URL"}),
}  # fmt: skip


def register(app: Flask, deps: Dependencies) -> None:
    @app.get("/api/tasks/<int:task_id>/<which>")
    @doc(Operation(
        "Download a task's original or converted file", _DOWNLOAD, (401, 404, 409),
        auth=True, params={"which": {"enum": ["original", "converted"]}},
        description="409 for the converted file of a task not processed yet.",
    ))  # fmt: skip
    @login_required
    def task_file(task_id: int, which: str) -> Response:
        return _send(deps, tasks.task_download(deps, g.user_id, task_id, which))

    @app.get("/api/files/<path:file_name>")
    @doc(Operation(
        "Download a file by its name", _DOWNLOAD, (401, 404, 409), auth=True,
        description="By the original name: the converted file once processed, the "
        "original before; by the converted name: the converted file.",
    ))  # fmt: skip
    @login_required
    def file_by_name(file_name: str) -> Response:
        return _send(deps, tasks.file_download(deps, g.user_id, file_name))


def _send(deps: Dependencies, download: tasks.Download) -> Response:
    """Redirect to the file's signed URL (Cloud Storage), or stream it (embedded; and
    HEAD, which has no body: its Content-Length gives the size)."""
    if download.url and request.method != "HEAD":
        # No-store: the URL expires.
        return Response(status=302, headers={"Location": download.url, "Cache-Control": "no-store"})
    response = streamed_blob(
        deps, download.key, download.mime_type, download.size,
        f"the file {download.name!r} is no longer stored",
    )  # fmt: skip
    response.headers["Content-Disposition"] = attachment(download.name)
    return response


def streamed_blob(
    deps: Dependencies, key: str, mime_type: str, size: int | None, gone: str
) -> Response:
    """The stored blob ``key`` as a streamed response of ``size`` bytes; 404 saying
    ``gone`` if it was deleted since its size was looked up."""
    try:
        stream = deps.blobs.open_read(key)
    except KeyError:
        raise NotFound(gone) from None

    def body() -> Any:
        with stream:
            yield from iter_chunks(stream)

    response = Response(stream_with_context(body()), mimetype=mime_type)
    if size is not None:
        response.headers["Content-Length"] = str(size)
    return response
