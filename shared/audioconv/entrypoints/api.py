"""The HTTP API (a Flask app): its route groups, its limits and its errors.

Each route group is a module with ``register(app, deps)``; a new group of
routes is a new module and one line in ``ROUTE_GROUPS``. Routes only parse the
request, call one service and shape the JSON; errors are JSON
``{"message": ...}`` with a 4xx status, mapped from the services' errors in
``errors.py``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, request
from werkzeug.routing import IntegerConverter

from audioconv.entrypoints import errors, request_log
from audioconv.entrypoints.appengine import request_limit
from audioconv.entrypoints.routes import (
    api_keys,
    auth,
    batches,
    direct_uploads,
    downloads,
    health,
    openapi,
    pages,
    presets,
    profile,
    resumable_uploads,
    service,
    tasks,
    waveforms,
)
from audioconv.entrypoints.web import DEPENDENCIES, body_limit, buffer_chunked_body
from audioconv.services.dependencies import Dependencies

# Every group of routes, in the order the OpenAPI document lists them.
ROUTE_GROUPS: tuple[Callable[[Flask, Dependencies], None], ...] = (
    auth.register,
    tasks.register,
    batches.register,
    downloads.register,
    waveforms.register,
    service.register,
    health.register,
    direct_uploads.register,
    resumable_uploads.register,
    profile.register,
    api_keys.register,
    presets.register,
    pages.register,
    openapi.register,
)


class AsciiIntConverter(IntegerConverter):
    """``<int:...>`` in ASCII digits only: werkzeug's ``\\d`` also takes Arabic-Indic
    or fullwidth digits, and ``int()`` reads them (``/api/tasks/\u0663`` was task 3)."""

    regex = r"[0-9]+"


def create_app(deps: Dependencies) -> Flask:
    """The API over ``deps`` (built by ``bootstrap.build``, or fakes in tests)."""
    app = Flask("audioconv")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.converters["int"] = AsciiIntConverter
    app.extensions[DEPENDENCIES] = deps
    request_log.install(app)

    @app.before_request
    def _cap_request_body() -> None:
        limit = request_limit(body_limit(deps.settings))
        request.max_content_length = limit
        if limit <= deps.settings.max_json_bytes:  # not an upload: small, read whole
            buffer_chunked_body(limit)

    @app.after_request
    def _no_sniffing(response: Response) -> Response:
        # Every answer is what its Content-Type says: a browser must not guess
        # (an uploaded file served back is never run as a page or script).
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    errors.register(app, deps)
    for register in ROUTE_GROUPS:
        register(app, deps)
    return app
