"""Presets: save, list, change and delete a user's named format and options, and
apply one to an upload's fields (domain/preset.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from audioconv.domain.errors import Conflict, InvalidInput, NotFound
from audioconv.domain.model import valid_id
from audioconv.domain.options import OPTION_FIELDS, requested_options
from audioconv.domain.preset import MAX_PRESET_NAME_CHARS, MAX_PRESETS_PER_USER, Preset
from audioconv.services.dependencies import Dependencies
from audioconv.services.tasks import (
    checked_name,
    checked_options,
    target_format,
)

# The upload field naming a preset.
FIELD = "preset"
_BODY_FIELDS = {"name", "newFormat", *OPTION_FIELDS}


# What the missing-name message says a name is for.
_PRESET_NAME = "what uploads will call the preset by"


def _checked(body: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """A preset's name, format and options from a request body, checked as an upload's."""
    unknown = sorted(set(body) - _BODY_FIELDS)
    if unknown:
        raise InvalidInput(
            f"unknown field {unknown[0]!r}; a preset has name, newFormat and the options "
            f"{', '.join(OPTION_FIELDS)}"
        )
    name = checked_name(body.get("name"), _PRESET_NAME, MAX_PRESET_NAME_CHARS)
    if body.get("newFormat") in (None, ""):
        raise InvalidInput("missing field 'newFormat': the preset's target format")
    target = target_format(body.get("newFormat"))
    try:
        asked = requested_options({k: v for k, v in body.items() if k in OPTION_FIELDS})
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    options = checked_options(asked, target)
    return name, target, options.as_json() or {}


def create(deps: Dependencies, user_id: int, body: Mapping[str, Any]) -> Preset:
    name, target, options = _checked(body)
    now = deps.clock()
    preset = Preset(user_id, name, target, options, created_at=now, updated_at=now)
    with deps.uow() as uow:
        if len(uow.presets.for_user(user_id)) >= MAX_PRESETS_PER_USER:
            raise Conflict(f"you have {MAX_PRESETS_PER_USER} presets, the most an account "
                           "may have: delete one first")  # fmt: skip
        if uow.presets.by_name(user_id, name) is not None:
            raise Conflict(f"you already have a preset named {name!r}: change it (PUT) instead")
        uow.presets.add(preset)
        uow.commit()
    return preset


def list_presets(deps: Dependencies, user_id: int) -> Sequence[Preset]:
    with deps.uow(readonly=True) as uow:
        return list(uow.presets.for_user(user_id))


def get(deps: Dependencies, user_id: int, preset_id: int) -> Preset:
    with deps.uow(readonly=True) as uow:
        return _owned(uow.presets.get(preset_id) if valid_id(preset_id) else None, user_id)


def _owned(preset: Preset | None, user_id: int) -> Preset:
    if preset is None or preset.user_id != user_id:
        raise NotFound("no such preset")
    return preset


def update(deps: Dependencies, user_id: int, preset_id: int, body: Mapping[str, Any]) -> Preset:
    """Replace the preset's name, format and options (all of them, as when made)."""
    name, target, options = _checked(body)
    with deps.uow() as uow:
        found = uow.presets.get(preset_id, for_update=True) if valid_id(preset_id) else None
        preset = _owned(found, user_id)
        same_name = uow.presets.by_name(user_id, name)
        if same_name is not None and same_name.id != preset.id:
            raise Conflict(f"you already have another preset named {name!r}")
        preset.name, preset.output_format, preset.options = name, target, options
        preset.updated_at = deps.clock()
        uow.commit()
    return preset


def delete(deps: Dependencies, user_id: int, preset_id: int) -> None:
    with deps.uow() as uow:
        preset = _owned(uow.presets.get(preset_id) if valid_id(preset_id) else None, user_id)
        uow.presets.delete(preset)
        uow.commit()


def apply(deps: Dependencies, user_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    """An upload's fields with the preset it names (``preset``) under them: its format
    and options, each unless the upload gives its own. Unchanged without one; NotFound
    if the user has no preset of that name."""
    merged = {name: value for name, value in fields.items() if name != FIELD}
    name = fields.get(FIELD)
    if name in (None, ""):
        return merged
    if not isinstance(name, str):
        raise InvalidInput(f"field {FIELD!r} must be the name of one of your presets")
    if len(name) > MAX_PRESET_NAME_CHARS:  # (not echoed)
        raise InvalidInput(f"field {FIELD!r} must be at most {MAX_PRESET_NAME_CHARS} characters")
    with deps.uow(readonly=True) as uow:
        preset = uow.presets.by_name(user_id, name.strip())
    if preset is None:
        raise NotFound(f"you have no preset named {name!r} (GET /api/presets lists yours)")
    return preset.merged(merged)
