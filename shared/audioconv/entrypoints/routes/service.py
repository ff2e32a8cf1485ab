"""Routes of the service itself, not of a user: the scheduler's sweep (liveness and
readiness are in ``health``)."""

from __future__ import annotations

from flask import Flask, Response, jsonify

from audioconv.domain.errors import Forbidden
from audioconv.entrypoints import schemas as s
from audioconv.entrypoints.routes.openapi import Operation, Reply, doc
from audioconv.entrypoints.web import may_sweep
from audioconv.services import recovery
from audioconv.services.dependencies import Dependencies


def register(app: Flask, deps: Dependencies) -> None:
    @app.route("/api/internal/sweep", methods=["GET", "POST"])
    @doc(Operation(
        "Republish what is due (the scheduler's route)",
        {200: Reply("what was republished", s.SweepResult)}, (403,), tag="service",
        description="Allowed to App Engine cron (`X-Appengine-Cron: true`, on App Engine "
        "only), to `Authorization: Bearer <AUDIOCONV_SWEEP_TOKEN>`, and to loopback clients.",
    ))  # fmt: skip
    def sweep() -> Response:
        if not may_sweep(deps.settings):
            raise Forbidden(
                "only the scheduler may call this route: App Engine cron, a caller with "
                "the sweep token (AUDIOCONV_SWEEP_TOKEN), or one on this machine"
            )
        result = recovery.sweep(deps)
        return jsonify(result.as_json())
