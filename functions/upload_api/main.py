"""HTTP function: the audioconv API (auth, tasks, uploads, downloads)."""

import functions_framework
from flask import Request, Response

from audioconv import logs
from audioconv.entrypoints.api import create_app

logs.configure()  # one JSON line per entry on Google Cloud, redacted

app = create_app()


@functions_framework.http
def api(request: Request) -> Response:
    """Route the request through the API's Flask app."""
    with app.request_context(request.environ):
        return app.full_dispatch_request()
