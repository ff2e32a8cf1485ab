"""Routes of API keys: make one, list them, revoke one (``/api/keys``). A log-in token
only: a key cannot make or revoke keys (entrypoints/key_scopes.py)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, jsonify

from audioconv.domain.api_key import ApiKey
from audioconv.entrypoints import schemas as s
from audioconv.entrypoints.routes.openapi import Body, Operation, Reply, doc
from audioconv.entrypoints.web import json_body, login_required, validated
from audioconv.services import api_keys
from audioconv.services.dependencies import Dependencies


def key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": list(key.scopes),
        "createdAt": key.created_at.isoformat(),
        "lastUsedAt": key.last_used_at.isoformat() if key.last_used_at else None,
    }


def register(app: Flask, deps: Dependencies) -> None:
    @app.post("/api/keys")
    @doc(Operation(
        "Make an API key for a script", {201: Reply("the key, shown this once", s.NewApiKey)},
        (400, 401, 409, 413), Body(("application/json",), s.ApiKeyBody), auth=True,
        tag="keys",
        description="Send it as `Authorization: Bearer ak_live_...`. It does not expire; "
        "revoke it with `DELETE /api/keys/{key_id}`. Only its first characters and a "
        "keyed hash are kept: a lost key cannot be shown again (make another). Needs a "
        "log-in token (403 with an API key). 409 past 50 keys.",
    ))  # fmt: skip
    @login_required
    def create_api_key() -> tuple[Response, int]:
        body = validated(s.ApiKeyBody, json_body())
        record, key = api_keys.create(deps, g.user_id, body.name, body.scopes)
        return jsonify({**key_json(record), "key": key}), 201

    @app.get("/api/keys")
    @doc(Operation(
        "Your API keys, with their last use", {200: Reply("the keys", s.ApiKey, many=True)},
        (401,), auth=True, tag="keys",
        description="Needs a log-in token (403 with an API key).",
    ))  # fmt: skip
    @login_required
    def list_api_keys() -> Response:
        return jsonify([key_json(key) for key in api_keys.list_keys(deps, g.user_id)])

    @app.delete("/api/keys/<int:key_id>")
    @doc(Operation(
        "Revoke an API key", {204: Reply("revoked: refused from now on, everywhere")},
        (401, 404), auth=True, tag="keys",
        description="Needs a log-in token (403 with an API key).",
    ))  # fmt: skip
    @login_required
    def revoke_api_key(key_id: int) -> tuple[str, int]:
        api_keys.revoke(deps, g.user_id, key_id)
        return "", 204
