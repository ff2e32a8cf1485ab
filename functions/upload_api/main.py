"""HTTP function: the audioconv API (auth, tasks, uploads, downloads)."""

import functools

import functions_framework
from flask import Flask, Request, Response

from audioconv import bootstrap
from audioconv.entrypoints.api import create_app


@functools.cache
def wired() -> Flask:
    """The API's Flask app over this process's adapters; built on the first request, in
    the process that serves it (gRPC channels and the Cloud SQL connector's thread do
    not survive the server's fork)."""
    return create_app(bootstrap.build())


@functions_framework.http
def api(request: Request) -> Response:
    """Route the request through the API's Flask app."""
    app = wired()
    with app.request_context(request.environ):
        return app.full_dispatch_request()
