"""Request parsing and response shaping shared by the API's route modules."""

from __future__ import annotations

import hmac
import io
import ipaddress
import json
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from werkzeug.exceptions import RequestEntityTooLarge

from audioconv import logs
from audioconv.config import Settings
from audioconv.domain.errors import InvalidInput, PayloadTooLarge
from audioconv.entrypoints import key_scopes
from audioconv.entrypoints.appengine import (
    MAX_REQUEST_BYTES,
    client_address,
    on_app_engine,
    request_limit,
)
from audioconv.entrypoints.upload_parsing import is_raw
from audioconv.services import auth
from audioconv.services.dependencies import Dependencies

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)

# Where ``create_app`` keeps the app's dependencies (``app.extensions``).
DEPENDENCIES = "audioconv"


def current_deps() -> Dependencies:
    """The dependencies of the app serving this request."""
    return cast(Dependencies, current_app.extensions[DEPENDENCIES])


def body_limit(settings: Settings) -> int:
    """The most bytes this request's body may have: an upload's limit for an upload
    (multipart or raw), a direct upload's PUT or a resumable upload's PATCH,
    ``max_json_bytes`` for everything else."""
    upload = request.endpoint == "create_task" and (
        request.mimetype == "multipart/form-data" or is_raw()
    )
    if upload or request.endpoint in ("put_blob", "tus_patch"):
        return settings.max_upload_bytes
    return settings.max_json_bytes


def too_large(exc: RequestEntityTooLarge, settings: Settings) -> PayloadTooLarge:
    """The 413 naming the limit that was hit: the body's size, or werkzeug's form limits."""
    raised_in = _raising_function(exc)
    if raised_in == "werkzeug.sansio.multipart.next_event":
        return PayloadTooLarge(f"the form has more than {request.max_form_parts} parts")
    if raised_in in ("werkzeug.sansio.multipart.receive_data", "werkzeug.formparser.parse"):
        return PayloadTooLarge(
            f"a form field is larger than the limit of {request.max_form_memory_size} bytes "
            "(send the file itself as the multipart field 'fileName')"
        )
    limit = body_limit(settings)
    if request_limit(limit) < limit:  # App Engine's cap, below the upload limit
        return PayloadTooLarge(
            f"the request is larger than App Engine's limit of {MAX_REQUEST_BYTES} bytes; "
            "send larger files (up to the upload limit of "
            f"{settings.max_upload_bytes} bytes) as a direct upload: POST /api/uploads "
            "for a URL to PUT the file to (the command-line client does this by itself)"
        )
    if limit == settings.max_upload_bytes:
        return PayloadTooLarge.over(limit)
    return PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes")


def buffer_chunked_body(limit: int) -> None:
    """Read a chunked body of at most ``limit`` bytes whole, before anyone parses it:
    werkzeug cuts a chunked body silently at its limit (a 70 KB JSON body was "not a
    JSON object"), where a body with a length is a 413. PayloadTooLarge past it."""
    if (
        request.content_length is not None
        or "chunked" not in request.headers.get("Transfer-Encoding", "").lower()
    ):
        return
    stream = request.environ["wsgi.input"]
    data = b""
    while len(data) <= limit and (chunk := stream.read(limit + 1 - len(data))):
        data += chunk
    if len(data) > limit:
        raise PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes")
    request.environ["wsgi.input"] = io.BytesIO(data)


def _raising_function(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return ""
    return f"{tb.tb_frame.f_globals.get('__name__')}.{tb.tb_frame.f_code.co_name}"


def json_body() -> dict[str, Any]:
    """The request's JSON object; 400 for anything else, for JSON nested too deeply
    to parse, and for text that is not valid Unicode (lone surrogates)."""
    if not request.is_json:
        raise InvalidInput("request body must be a JSON object (Content-Type: application/json)")
    try:
        body = json.loads(request.get_data(cache=True), object_pairs_hook=_one_value_each)
    except RecursionError:
        raise InvalidInput(
            "request body must be a JSON object; this JSON is nested too deeply"
        ) from None
    except ValueError:  # also UnicodeDecodeError: bytes that are no Unicode encoding
        raise InvalidInput("request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object")
    _refuse_surrogates(body)
    return body


def _one_value_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once (json.loads keeps the last)."""
    body = dict(pairs)
    if len(body) != len(pairs):
        keys = [key for key, _ in pairs]
        twice = next(key for key in keys if keys.count(key) > 1)
        raise InvalidInput(f"field {twice!r} is given more than once; send it once")
    return body


def _refuse_surrogates(value: Any) -> None:
    """InvalidInput if any key or string in ``value`` cannot be encoded as UTF-8 (a lone
    surrogate such as ``\\ud800``): no database, hasher or file system takes one."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput(
                    "request body has text that is not valid Unicode (a lone surrogate)"
                ) from None


def validated(model: type[M], data: Mapping[str, Any]) -> M:
    """``data`` (a JSON body, form fields, a query) as the request model ``model``
    (``entrypoints/schemas.py``); InvalidInput naming the first field that is wrong."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidInput(error_message(exc.errors()[0])) from None


# The sentence of each kind of validation error (pydantic's, or schemas.py's own).
_MESSAGES = {
    "missing": "missing field {field!r}",
    "too_long": "field {field!r} must be at most {max_length} characters",
    "string_too_long": "field {field!r} must be at most {max_length} characters",
    "control_characters": "field {field!r} must not contain control characters",
    "extra_forbidden": "unknown field {field!r}",
}


def error_message(error: ErrorDetails) -> str:
    """One validation error as the API words it, naming the field (by its name in the
    request); ``as_is`` errors carry their whole sentence."""
    context = dict(error.get("ctx") or {})
    if error["type"] == "as_is":
        return str(context["message"])
    field = ".".join(str(part) for part in error["loc"]) or "body"
    template = _MESSAGES.get(error["type"])
    if template is None:
        return f"field {field!r}: {error['msg']}"
    return template.format(field=field, **context)


def login_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.caller = auth.caller(
            current_deps(), request.headers.get("Authorization"), client_address()
        )
        g.user_id = g.caller.user_id
        logs.bind(user_id=g.user_id)
        key_scopes.check(g.caller, request.endpoint)
        return view(*args, **kwargs)

    return cast(F, wrapper)


def may_sweep(settings: Settings) -> bool:
    """Whether this request may run the sweep.

    On App Engine (``GAE_APPLICATION``/``GAE_ENV`` set by its runtime) the cron
    service's ``X-Appengine-Cron: true``, a header App Engine strips from outside
    requests. Anywhere: ``Authorization: Bearer <AUDIOCONV_SWEEP_TOKEN>``, or a
    client on this machine (loopback). Elsewhere anyone can send that header.
    """
    if on_app_engine() and request.headers.get("X-Appengine-Cron") == "true":
        return True
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings.sweep_token.encode()
    if (
        expected
        and scheme.lower() == "bearer"
        and hmac.compare_digest(token.strip().encode(), expected)
    ):
        return True
    return _is_loopback(request.remote_addr)


def _is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return ip.is_loopback or bool(mapped and mapped.is_loopback)
