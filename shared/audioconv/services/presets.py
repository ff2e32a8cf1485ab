"""Presets: save, list, change and delete a user's named format and options, and
apply one to an upload's fields (domain/preset.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from audioconv.domain.errors import Conflict, InvalidInput, NotFound
from audioconv.domain.model import valid_id
from audioconv.domain.options import ConversionOptions
from audioconv.domain.preset import MAX_PRESET_NAME_CHARS, MAX_PRESETS_PER_USER, Preset
from audioconv.services.dependencies import Dependencies
from audioconv.services.tasks import (
    checked_name,
    checked_options,
    target_format,
)

# The upload field naming a preset.
FIELD = "preset"

# What the missing-name message says a name is for.
_PRESET_NAME = "what uploads will call the preset by"


def checked_preset_name(value: object) -> str:
    """A preset's name, trimmed; InvalidInput unless it is text of 1 to
    MAX_PRESET_NAME_CHARS characters without control characters."""
    return checked_name(value, _PRESET_NAME, MAX_PRESET_NAME_CHARS)


def _checked(
    name: str, new_format: str, options: ConversionOptions
) -> tuple[str, str, dict[str, Any]]:
    """A preset's name, format and options, checked as an upload's are."""
    checked = checked_preset_name(name)
    target = target_format(new_format)
    return checked, target, checked_options(options, target).as_json() or {}


def create(
    deps: Dependencies, user_id: int, name: str, new_format: str, options: ConversionOptions
) -> Preset:
    """A new preset of the user's; Conflict at the most presets or for a name in use."""
    name, target, chosen = _checked(name, new_format, options)
    now = deps.clock()
    preset = Preset(user_id, name, target, chosen, created_at=now, updated_at=now)
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


def update(
    deps: Dependencies,
    user_id: int,
    preset_id: int,
    name: str,
    new_format: str,
    options: ConversionOptions,
) -> Preset:
    """Replace the preset's name, format and options (all of them, as when made)."""
    name, target, chosen = _checked(name, new_format, options)
    with deps.uow() as uow:
        found = uow.presets.get(preset_id, for_update=True) if valid_id(preset_id) else None
        preset = _owned(found, user_id)
        same_name = uow.presets.by_name(user_id, name)
        if same_name is not None and same_name.id != preset.id:
            raise Conflict(f"you already have another preset named {name!r}")
        preset.change(name, target, chosen, deps.clock())
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
