"""Each API request's id, trace and log context, its access log line, and its id on
the answer: the ``X-Request-Id`` header, and ``requestId`` in every JSON error.

The id is the caller's ``X-Request-Id`` when it is sane (bounded, a safe
charset), else a new one. The access line has the method, the path (never the
query string: it may carry a signature), the status and the duration; probes
(``/healthz``, ``/readyz``, App Engine's warmup) log theirs at DEBUG.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from typing import Any

from flask import Flask, Response, current_app, g, request

from audioconv import logs

HEADER = "X-Request-Id"
access_log = logging.getLogger("audioconv.access")
PROBES = frozenset({"/healthz", "/readyz", "/_ah/warmup"})
# Longest path an access line shows.
MAX_PATH_CHARS = 512


def install(app: Flask) -> None:
    """Hook into ``app``: before anything else it does, and after everything."""
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    # after_request and teardown functions run last-registered first: these go first.
    app.after_request_funcs.setdefault(None, []).insert(0, _answer)
    app.teardown_request_funcs.setdefault(None, []).insert(0, _end)


def _begin() -> None:
    g.log_token = logs.start(
        request_id=logs.request_id_from(request.headers.get(HEADER)),
        task_id=(request.view_args or {}).get("task_id"),
        **logs.trace_from(request.headers.get),
    )
    g.log_started = time.perf_counter()


def _answer(response: Response) -> Response:
    request_id = logs.current().get("request_id")
    if request_id is None:
        return response
    response.headers[HEADER] = request_id
    if response.status_code >= 400 and response.is_json and not response.is_streamed:
        body = response.get_json(silent=True)
        if isinstance(body, dict) and "message" in body and "requestId" not in body:
            body["requestId"] = request_id
            response.set_data(current_app.json.dumps(body) + "\n")
    g.log_status = response.status_code
    return response


def _end(exc: BaseException | None) -> None:
    started = g.pop("log_started", None)
    token = g.pop("log_token", None)
    if started is None:
        return
    path = request.path
    level = logging.DEBUG if path in PROBES else logging.INFO
    if access_log.isEnabledFor(level):
        seconds = time.perf_counter() - started
        status = g.get("log_status", 500)
        shown = urllib.parse.quote(path[:MAX_PATH_CHARS], safe="/:@!$&'()*+,;=~")
        http: dict[str, Any] = {
            "requestMethod": request.method,
            "requestUrl": shown,
            "status": status,
            "latency": f"{seconds:.6f}s",
        }
        access_log.log(level, "%s %s %s %.1f ms", request.method, shown, status,
                       seconds * 1000, extra={"http_request": http})  # fmt: skip
    if token is not None:
        logs.finish(token)
