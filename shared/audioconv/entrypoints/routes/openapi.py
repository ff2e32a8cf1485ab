"""The OpenAPI 3.1 document, generated from the app's routes, and its browsable docs.

Each route carries an :class:`Operation` (``@doc(...)``): its request and response
models (``schemas.py``) and the error statuses it answers. :func:`build_spec`
walks ``app.url_map`` and writes every rule and method into an apispec
``APISpec``, path parameters from the rule's converters; a route without
``@doc`` is an error, so no route goes undocumented. ``GET /api/openapi.json``
serves it, ``GET /api/docs`` shows it with Swagger UI, its files served from the
``flask-swagger-ui`` wheel (no CDN: it works offline) and started by
``web/api-docs.js`` (no inline script, so the page keeps a strict CSP).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar

import flask_swagger_ui
from apispec import APISpec
from flask import Flask, Response, jsonify, send_from_directory
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from werkzeug.routing import Rule

from audioconv.entrypoints import schemas
from audioconv.entrypoints.schemas import MAX_FIELD_CHARS
from audioconv.services.dependencies import Dependencies

F = TypeVar("F", bound=Callable[..., Any])

SPEC_PATH = "/api/openapi.json"
DOCS_PATH = "/api/docs"
# Routes that serve the document and the docs themselves, and static files: not API.
UNDOCUMENTED = frozenset({"static", "openapi_docs", "openapi_docs_file"})
API_VERSION = "1.0.0"
SWAGGER_DIST = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
WEB_DIR = Path(__file__).resolve().parents[2] / "web"
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

BINARY = {"type": "string", "contentMediaType": "application/octet-stream"}
_REF = "#/components/schemas/{model}"
_ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
# The schema of each werkzeug converter a rule uses (AsciiIntConverter for int).
_CONVERTERS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "minimum": 0},
    "default": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"},
    "path": {"type": "string", "minLength": 1, "maxLength": MAX_FIELD_CHARS},
}
# What each error status means on this API, beyond the route's own words.
_ERRORS: dict[int, str] = {
    400: "a missing or malformed field, an unknown format, an option the format cannot do",
    401: "no bearer token, or one that is invalid or expired",
    403: "not allowed here (an API key: not with its scopes, or not with a key at all)",
    404: "no such thing, or not yours",
    409: "conflicts with the current state",
    413: "larger than the limit that applied, named in the message (the body's, the "
    "form's, the stored-bytes quota, or the output a conversion could make)",
    412: "a tus request without `Tus-Resumable: 1.0.0`",
    415: "not audio we can read (checked by its content), or a body of the wrong type",
    429: "too many attempts or too much in flight; retry after `Retry-After` seconds",
}
_HEADERS: dict[int, dict[str, Any]] = {
    413: {
        "Connection": {
            "description": "`close` when the body was refused unread",
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "seconds to wait before trying again",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


@dataclass(frozen=True)
class Body:
    """A request body: a model per media type, or raw bytes (``model=None``)."""

    media_types: tuple[str, ...]
    model: type[BaseModel] | None = None
    description: str = ""
    raw: tuple[str, ...] = ()  # media types also taken as the raw file
    more: Mapping[str, type[BaseModel]] = field(default_factory=dict)  # other media types


@dataclass(frozen=True)
class Reply:
    """A success response: a JSON model (or list of it), a file, or a redirect."""

    description: str
    model: type[BaseModel] | None = None
    many: bool = False
    file: tuple[str, ...] = ()  # a file's media types
    schema: Mapping[str, Any] | None = None  # JSON that no model describes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    summary: str
    replies: Mapping[int, Reply]
    errors: tuple[int, ...] = ()
    body: Body | None = None
    query: type[BaseModel] | None = None
    auth: bool = False
    tag: str = "tasks"
    params: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    # Request headers the operation reads: name -> (required, JSON schema).
    headers: Mapping[str, tuple[bool, dict[str, Any]]] = field(default_factory=dict)


def doc(operation: Operation) -> Callable[[F], F]:
    """Attach ``operation`` to a view function (above or below ``login_required``)."""

    def attach(view: F) -> F:
        view.openapi = operation  # type: ignore[attr-defined]
        return view

    return attach


def documented_routes(app: Flask) -> Iterator[tuple[Rule, str]]:
    """Every rule and method of the API (not HEAD/OPTIONS, not static files or docs)."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDOCUMENTED:
            continue
        methods = rule.methods or set()
        named = sorted(methods - {"HEAD", "OPTIONS"})
        if not named:  # a rule of HEAD or OPTIONS alone, on purpose (tus)
            named = ["HEAD" if "HEAD" in methods else "OPTIONS"]
        for method in named:
            yield rule, method


def openapi_path(rule: Rule) -> str:
    """``/api/tasks/<int:task_id>`` as ``/api/tasks/{task_id}``."""
    return _ARGUMENT.sub(lambda m: "{" + m.group(2) + "}", rule.rule)


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route ``app`` registers."""
    spec = APISpec(
        title="audioconv",
        version=API_VERSION,
        openapi_version="3.1.0",
        info={
            "description": "Convert audio files between formats. Errors are JSON "
            '`{"message": "...", "requestId": "..."}` with a 4xx status. Every answer '
            "carries an `X-Request-Id` header: the caller's own (up to 128 of "
            "`A-Z a-z 0-9 . _ : + / = -`) or a new one."
        },
    )
    _, defs = models_json_schema(
        [(model, "validation") for model in schemas.MODELS], ref_template=_REF
    )
    for name, schema in defs.get("$defs", {}).items():
        spec.components.schema(name, schema)
    spec.components.security_scheme(
        "bearer",
        {"type": "http", "scheme": "bearer",
         "description": "the token from sign-up or login, or an API key (`ak_live_...`, "
         "`POST /api/keys`): a key may call only the routes its scopes allow (`read`: "
         "read and download tasks, batches, presets; `convert`: also upload, convert "
         "again and delete), else 403"},
    )  # fmt: skip
    paths: dict[str, dict[str, Any]] = {}
    for rule, method in documented_routes(app):
        view = app.view_functions[rule.endpoint]
        operation: Operation | None = getattr(view, "openapi", None)
        if operation is None:
            raise LookupError(f"route {method} {rule.rule} ({rule.endpoint}) has no @doc")
        operation_id = rule.endpoint
        if len(set(rule.methods or ()) - {"HEAD", "OPTIONS"}) > 1:
            operation_id = f"{rule.endpoint}_{method.lower()}"
        paths.setdefault(openapi_path(rule), {})[method.lower()] = _operation(
            rule, operation, operation_id
        )
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation(rule: Rule, operation: Operation, operation_id: str) -> dict[str, Any]:
    if operation.auth:  # an API key: 403 without the scope, 429 after many wrong keys
        extra = tuple(status for status in (403, 429) if status not in operation.errors)
        operation = replace(operation, errors=(*operation.errors, *extra))
    out: dict[str, Any] = {
        "operationId": operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "parameters": [
            *_path_parameters(rule, operation),
            *_query_parameters(operation),
            *(
                {"name": name, "in": "header", "required": required, "schema": schema}
                for name, (required, schema) in operation.headers.items()
            ),
        ],
        "responses": _responses(operation),
    }
    if operation.description:
        out["description"] = operation.description
    if operation.auth:
        out["security"] = [{"bearer": []}]
    if operation.body is not None:
        out["requestBody"] = _request_body(operation.body)
    return out


def _path_parameters(rule: Rule, operation: Operation) -> Iterator[dict[str, Any]]:
    for match in _ARGUMENT.finditer(rule.rule):
        converter, name = match.group(1) or "default", match.group(2)
        schema = {**_CONVERTERS[converter], **operation.params.get(name, {})}
        yield {"name": name, "in": "path", "required": True, "schema": schema}


def _query_parameters(operation: Operation) -> Iterator[dict[str, Any]]:
    if operation.query is None:
        return
    schema = operation.query.model_json_schema(ref_template=_REF)
    required = schema.get("required", [])
    for name, prop in schema["properties"].items():
        description = prop.pop("description", "")
        yield {"name": name, "in": "query", "required": name in required,
               "description": description, "schema": prop}  # fmt: skip


def _request_body(body: Body) -> dict[str, Any]:
    schema = _ref(body.model) if body.model is not None else BINARY
    content = {media: {"schema": schema} for media in body.media_types}
    content.update({media: {"schema": BINARY} for media in body.raw})
    content.update({media: {"schema": _ref(model)} for media, model in body.more.items()})
    return {"required": True, "description": body.description, "content": content}


def _ref(model: type[BaseModel], many: bool = False) -> dict[str, Any]:
    ref = {"$ref": _REF.format(model=model.__name__)}
    return {"type": "array", "items": ref} if many else ref


def _responses(operation: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, reply in operation.replies.items():
        response: dict[str, Any] = {"description": reply.description}
        if reply.model is not None:
            response["content"] = {"application/json": {"schema": _ref(reply.model, reply.many)}}
        elif reply.schema is not None:
            response["content"] = {"application/json": {"schema": dict(reply.schema)}}
        if reply.file:  # a file, or (beside a model) another form of the answer
            files = {media: {"schema": BINARY} for media in reply.file}
            response["content"] = {**response.get("content", {}), **files}
        if reply.headers:
            response["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in reply.headers.items()
            }
        responses[str(status)] = response
    for status in sorted(operation.errors):
        error: dict[str, Any] = {
            "description": f"{HTTPStatus(status).phrase}: {_ERRORS[status]}",
            "content": {"application/json": {"schema": _ref(schemas.Error)}},
        }
        if status in _HEADERS:
            error["headers"] = _HEADERS[status]
        responses[str(status)] = error
    return responses


def register(app: Flask, deps: Dependencies) -> None:
    """``GET /api/openapi.json`` (built once, on first request) and ``GET /api/docs``."""
    built: list[dict[str, Any]] = []

    @app.get(SPEC_PATH)
    @doc(
        Operation(
            "This OpenAPI 3.1 document", {200: Reply("it", schema={"type": "object"})}, tag="about"
        )
    )
    def openapi_document() -> Response:
        if not built:
            built.append(build_spec(app))
        return jsonify(built[0])

    @app.get(DOCS_PATH)
    def openapi_docs() -> Response:
        response = send_from_directory(WEB_DIR, "api-docs.html", max_age=0)
        response.headers["Content-Security-Policy"] = DOCS_CSP
        return response

    @app.get(f"{DOCS_PATH}/<path:name>")
    def openapi_docs_file(name: str) -> Response:
        return send_from_directory(SWAGGER_DIST, name, max_age=300)
