"""Request parsing and response shaping shared by the API's route modules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request

from audioconv.domain.errors import InvalidInput
from audioconv.domain.model import Task
from audioconv.domain.options import OPTION_FIELDS
from audioconv.services import auth
from audioconv.services.deps import Deps
from audioconv.services.tasks import has_control_characters

F = TypeVar("F", bound=Callable[..., Any])


def current_deps() -> Deps:
    return cast(Deps, g.deps)


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object")
    return body


def json_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"missing field {name!r}")
    if has_control_characters(value):
        raise InvalidInput(f"field {name!r} must not contain control characters")
    return value


def login_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.user_id = auth.authenticate(current_deps(), request.headers.get("Authorization"))
        return view(*args, **kwargs)

    return cast(F, wrapper)


def option_fields(source: Mapping[str, Any]) -> dict[str, Any]:
    """The conversion options a request carries (form fields or JSON keys)."""
    return {name: source[name] for name in OPTION_FIELDS if name in source}


def task_json(task: Task) -> dict[str, Any]:
    base = f"/api/tasks/{task.id}"
    return {
        "id": task.id,
        "fileName": task.file_name,
        "status": task.status.value,
        "inputFormat": task.input_format,
        "newFormat": task.output_format,
        "outputFileName": task.output_name,
        "revision": task.revision,
        "progress": task.progress,
        "error": task.error,
        "input": task.input_probe,
        "output": task.output_probe,
        "options": task.options or {},
        "createdAt": task.created_at.isoformat(),
        "updatedAt": task.updated_at.isoformat(),
        "links": {
            "self": base,
            "original": f"{base}/original",
            "converted": f"{base}/converted" if task.output_key else None,
        },
    }
