"""Routes of presets: a saved format and options that uploads name (``/api/presets``)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, jsonify

from audioconv.domain.preset import Preset
from audioconv.entrypoints import schemas as s
from audioconv.entrypoints.routes.openapi import Body, Operation, Reply, doc
from audioconv.entrypoints.web import json_body, login_required, validated
from audioconv.services import presets
from audioconv.services.dependencies import Dependencies

_RULES = (
    "The options are checked against the format by the rules an upload's are "
    "(`GET /api/formats`); 409 for a name you already use."
)


def preset_json(preset: Preset) -> dict[str, Any]:
    return {
        "id": preset.id,
        "name": preset.name,
        "newFormat": preset.output_format,
        "options": preset.options,
        "createdAt": preset.created_at.isoformat(),
        "updatedAt": preset.updated_at.isoformat(),
    }


def register(app: Flask, deps: Dependencies) -> None:
    @app.post("/api/presets")
    @doc(Operation(
        "Save a format and options as a preset", {201: Reply("the preset", s.Preset)},
        (400, 401, 409, 413), Body(("application/json",), s.PresetBody), auth=True,
        tag="presets",
        description="An upload (`POST /api/tasks`, `POST /api/uploads`, `PUT "
        "/api/tasks/{task_id}`) with `preset: NAME` takes its format and options; what "
        "the upload sets itself wins. " + _RULES,
    ))  # fmt: skip
    @login_required
    def create_preset() -> tuple[Response, int]:
        body = validated(s.PresetBody, json_body())
        preset = presets.create(
            deps, g.user_id, body.name, body.new_format, body.conversion_options
        )
        return jsonify(preset_json(preset)), 201

    @app.get("/api/presets")
    @doc(Operation(
        "Your presets, by name", {200: Reply("the presets", s.Preset, many=True)}, (401,),
        auth=True, tag="presets",
    ))  # fmt: skip
    @login_required
    def list_presets() -> Response:
        return jsonify([preset_json(p) for p in presets.list_presets(deps, g.user_id)])

    @app.get("/api/presets/<int:preset_id>")
    @doc(Operation("One preset", {200: Reply("the preset", s.Preset)}, (401, 404), auth=True,
                   tag="presets"))  # fmt: skip
    @login_required
    def get_preset(preset_id: int) -> Response:
        return jsonify(preset_json(presets.get(deps, g.user_id, preset_id)))

    @app.put("/api/presets/<int:preset_id>")
    @doc(Operation(
        "Change a preset: its name, format and options, all at once",
        {200: Reply("the preset", s.Preset)}, (400, 401, 404, 409, 413),
        Body(("application/json",), s.PresetBody), auth=True, tag="presets",
        description="Options left out are no longer set. " + _RULES,
    ))  # fmt: skip
    @login_required
    def update_preset(preset_id: int) -> Response:
        body = validated(s.PresetBody, json_body())
        preset = presets.update(
            deps, g.user_id, preset_id, body.name, body.new_format, body.conversion_options
        )
        return jsonify(preset_json(preset))

    @app.delete("/api/presets/<int:preset_id>")
    @doc(Operation("Delete a preset", {204: Reply("deleted")}, (401, 404), auth=True,
                   tag="presets"))  # fmt: skip
    @login_required
    def delete_preset(preset_id: int) -> tuple[str, int]:
        presets.delete(deps, g.user_id, preset_id)
        return "", 204
