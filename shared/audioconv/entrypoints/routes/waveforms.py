"""``GET /api/tasks/<id>/waveform.png``: the owner's picture of a task's input and
output waveforms, streamed by the API (small, and shown inline by the web page)."""

from __future__ import annotations

from flask import Flask, Response, g

from audioconv.entrypoints.routes.downloads import streamed_blob
from audioconv.entrypoints.routes.openapi import Operation, Reply, doc
from audioconv.entrypoints.web import login_required
from audioconv.services import tasks
from audioconv.services.dependencies import Dependencies

_PNG = {
    200: Reply("a PNG: the input's waveform above the output's", file=("image/png",)),
}


def register(app: Flask, deps: Dependencies) -> None:
    @app.get("/api/tasks/<int:task_id>/waveform.png")
    @doc(Operation(
        "The waveforms of a task's input and output", _PNG, (401, 404), auth=True,
        description="Made by the report pass after the conversion (the task's `report` "
        "is `due` until then); 404 before that.",
    ))  # fmt: skip
    @login_required
    def task_waveform(task_id: int) -> Response:
        picture = tasks.task_waveform(deps, g.user_id, task_id)
        response = streamed_blob(
            deps, picture.key, picture.mime_type, picture.size,
            f"task {task_id} has no waveform image",
        )  # fmt: skip
        response.headers["Cache-Control"] = "private, no-cache"
        return response
