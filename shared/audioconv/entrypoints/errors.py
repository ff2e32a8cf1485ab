"""How the API answers errors: JSON ``{"message": ...}``, its status chosen here.

The services raise errors that say what went wrong (``domain/errors.py``); this
module alone knows which HTTP status each one is, as the web entry point should.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from audioconv.domain.errors import (
    AudioconvError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
    UnsupportedMedia,
)
from audioconv.entrypoints.web import too_large
from audioconv.services.dependencies import Dependencies

log = logging.getLogger(__name__)

# The status of each error the services raise (a subclass takes its base's).
STATUS: dict[type[AudioconvError], int] = {
    InvalidInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    UnsupportedMedia: 415,
    TooManyRequests: 429,
}


def status_of(error: AudioconvError) -> int:
    """The HTTP status that answers ``error``: its type's, or its nearest base's (400)."""
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def _answer(status: int, message: str) -> tuple[Response, int]:
    return jsonify(message=message), status


def register(app: Flask, deps: Dependencies) -> None:
    @app.errorhandler(AudioconvError)
    def _expected(exc: AudioconvError) -> tuple[Response, int]:
        response, status = _answer(status_of(exc), exc.message)
        if isinstance(exc, TooManyRequests) and exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        if status == 413:  # the rest of the body is never read
            response.headers["Connection"] = "close"
        return response, status

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> tuple[Response, int]:
        error = too_large(exc, deps.settings)
        response, status = _answer(status_of(error), error.message)
        # The rest of the body is never read: the connection cannot carry another request.
        response.headers["Connection"] = "close"
        return response, status

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        response, status = _answer(exc.code or 500, exc.description or exc.name)
        for name, value in exc.get_headers():  # 405's Allow, 401's WWW-Authenticate ...
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    @app.errorhandler(ParseException)
    def _malformed_body(exc: ParseException) -> tuple[Response, int]:
        """A chunked body the server could not parse while the app read it (a chunk size
        of ``zz``, a 70 KB chunk extension): the client's fault, and the connection
        cannot carry another request."""
        log.info("malformed request body: %s", exc)
        response, status = _answer(400, f"the request body is malformed ({type(exc).__name__})")
        response.headers["Connection"] = "close"
        return response, status

    @app.errorhandler(TimeoutError)
    def _slow_body(exc: TimeoutError) -> tuple[Response, int]:
        """The rest of the body did not come in time (gunicorn_worker.READ_SECONDS)."""
        response, status = _answer(408, "the request body did not arrive in time")
        response.headers["Connection"] = "close"
        return response, status

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return _answer(500, "internal error")
