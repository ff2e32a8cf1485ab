"""``/healthz`` (the process answers), ``/readyz`` (database, blob store and ffmpeg
answer) and ``/_ah/warmup`` (App Engine standard's warmup request: the same checks,
which also open the first database connection and start the storage client).

Neither needs a login; ``/readyz`` names the checks that fail, never why (the
reason is logged).
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

from audioconv import logs
from audioconv.entrypoints import schemas as s
from audioconv.entrypoints.routes.openapi import Operation, Reply, doc
from audioconv.services.dependencies import Dependencies
from audioconv.services.readiness import Readiness

NO_STORE = {"Cache-Control": "no-store"}
_READY = {
    200: Reply("every dependency answers", s.Readiness),
    503: Reply("a dependency does not answer: named in `message` and `checks`", s.NotReady),
}


def register(app: Flask, deps: Dependencies) -> None:
    readiness = Readiness()

    def ready() -> tuple[Response, int]:
        report = readiness.check(deps)
        if report.ready:
            return jsonify(status="ready", checks=report.checks), 200
        failing = ", ".join(report.failing)
        body = {
            "message": f"not ready: {failing} not answering",
            "requestId": logs.current().get("request_id"),
            "status": "unavailable",
            "checks": report.checks,
        }
        return jsonify(body), 503

    @app.get("/healthz")
    @doc(Operation("Liveness: the process answers", {200: Reply("alive", s.Health)},
                   tag="service"))  # fmt: skip
    def health() -> tuple[Response, int, dict[str, str]]:
        return jsonify(status="ok"), 200, NO_STORE

    @app.get("/readyz")
    @doc(Operation(
        "Readiness: the database, the blob store and ffmpeg answer", _READY, tag="service",
        description="Each check's state is `ok`, `failing` or `timeout` (it took more "
        "than 3 s); passing checks are reused for a few seconds.",
    ))  # fmt: skip
    def readyz() -> tuple[Response, int, dict[str, str]]:
        return *ready(), NO_STORE

    @app.get("/_ah/warmup")
    @doc(Operation("App Engine's warmup request: the readiness checks", _READY, tag="service"))
    def warmup() -> tuple[Response, int, dict[str, str]]:
        return *ready(), NO_STORE
