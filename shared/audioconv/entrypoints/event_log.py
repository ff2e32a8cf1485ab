"""The log context of message handling: the message's id serves as the request id
(and, under a Pub/Sub push, the push's trace) of every line logged while it is
handled, whichever transport brought it (a push, the in-process bus, the queue)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import flask
from cloudevents.http import CloudEvent

from audioconv import logs
from audioconv.ports import Message
from audioconv.services.dependencies import Dependencies

Handler = Callable[[Dependencies, Message], None]


def _trace() -> dict[str, Any]:
    return logs.trace_from(flask.request.headers.get) if flask.has_request_context() else {}


def logged(handler: Handler) -> Handler:
    """Run ``handler`` with the message's id (and the push's trace) on its log lines."""

    @wraps(handler)
    def wrapper(deps: Dependencies, message: Message) -> None:
        # A fresh context: nothing a thread's earlier work bound (a user, a task) leaks in.
        with logs.bound(request_id=message.id, **_trace()):
            handler(deps, message)

    return wrapper


def for_cloud_event(function: Callable[[CloudEvent], None]) -> Callable[[CloudEvent], None]:
    """A CloudEvent function whose log lines (checking and decoding the push included)
    carry the event's id and the push's trace."""

    @wraps(function)
    def wrapper(event: CloudEvent) -> None:
        request_id = str(event.get("id") or logs.new_request_id())
        with logs.bound(request_id=request_id, **_trace()):
            function(event)

    return wrapper
