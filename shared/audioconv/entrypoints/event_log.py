"""The log context of a CloudEvent handler: the event's id serves as the request id
(and, under a Pub/Sub push, the push's trace), for every line the handler logs."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

import flask
from cloudevents.http import CloudEvent

from audioconv import logs

Handler = Callable[[CloudEvent], None]


def logged(handler: Handler) -> Handler:
    """Run ``handler`` with the event's id (and trace) bound to its log lines."""

    @wraps(handler)
    def wrapper(event: CloudEvent) -> None:
        trace = logs.trace_from(flask.request.headers.get) if flask.has_request_context() else {}
        with logs.bound(request_id=str(event.get("id") or logs.new_request_id()), **trace):
            handler(event)

    return wrapper
