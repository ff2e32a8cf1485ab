"""HTTP function: the audioconv API (auth, tasks, uploads, downloads)."""

import functions_framework
from flask import Flask, Request, Response

from audioconv import bootstrap, startup
from audioconv.entrypoints.api import create_app

startup.configure_logging()  # on Google Cloud, one JSON line per entry; always redacted


@bootstrap.once
def wired() -> Flask:
    """The API's Flask app over this process's adapters; built on the first request, in
    the process that serves it (gRPC channels and the Cloud SQL connector's thread do
    not survive the server's fork)."""
    return create_app(startup.start("function"))


@functions_framework.http
def api(request: Request) -> Response:
    """Route the request through the API's Flask app."""
    app = wired()
    with app.request_context(request.environ):
        return app.full_dispatch_request()
