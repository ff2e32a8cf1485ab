"""``GET /api/tasks/<id>/waveform.png``: the owner's picture of a task's input and
output waveforms, streamed by the API (small, and shown inline by the web page)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, stream_with_context

from audioconv.domain.errors import NotFound
from audioconv.entrypoints.openapi import Operation, Reply, doc
from audioconv.entrypoints.web import login_required
from audioconv.ports import iter_chunks
from audioconv.services import tasks
from audioconv.services.dependencies import Dependencies

_PNG = {
    200: Reply("a PNG: the input's waveform above the output's", file=("image/png",)),
}


def register(app: Flask, deps: Dependencies) -> None:
    @app.get("/api/tasks/<int:task_id>/waveform.png")
    @doc(Operation(
        "The waveforms of a task's input and output", _PNG, (401, 404), auth=True,
        description="Made by the worker with the converted file; 404 before that.",
    ))  # fmt: skip
    @login_required
    def task_waveform(task_id: int) -> Response:
        picture = tasks.task_waveform(deps, g.user_id, task_id)
        try:
            stream = deps.blobs.open_read(picture.key)
        except KeyError:  # deleted since its size was looked up
            raise NotFound(f"task {task_id} has no waveform image") from None

        def body() -> Any:
            with stream:
                yield from iter_chunks(stream)

        response = Response(stream_with_context(body()), mimetype=picture.mime_type)
        response.headers["Content-Length"] = str(picture.size)
        response.headers["Cache-Control"] = "private, no-cache"
        return response
