"""What App Engine's front end vouches for, and only when running behind it."""

from __future__ import annotations

import os

from flask import request


def on_app_engine() -> bool:
    """Whether this process runs on App Engine (its runtime sets these)."""
    return bool(os.environ.get("GAE_APPLICATION")) or os.environ.get("GAE_ENV") == "standard"


# App Engine refuses request bodies over 32 MB (and caps a dynamic response alike).
MAX_REQUEST_BYTES = 32 * 1024 * 1024
MAX_RESPONSE_BYTES = MAX_REQUEST_BYTES


def request_limit(limit: int) -> int:
    """A request body's limit, capped at App Engine's request size when running there."""
    return min(limit, MAX_REQUEST_BYTES) if on_app_engine() else limit


def client_address() -> str:
    """The client's IP address: App Engine's front end sets X-Appengine-User-Ip and
    strips it from outside requests; anywhere else a client could forge it."""
    if on_app_engine():
        vouched = request.headers.get("X-Appengine-User-Ip")
        if vouched:
            return vouched
    return request.remote_addr or "unknown"
