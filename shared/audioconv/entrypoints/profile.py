"""Routes of the signed-in user's profile: webhook URL, e-mail switch, webhook secret."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, jsonify

from audioconv.domain.model import User
from audioconv.entrypoints import schemas as s
from audioconv.entrypoints.openapi import Body, Operation, Reply, doc
from audioconv.entrypoints.web import json_body, login_required
from audioconv.services import webhooks
from audioconv.services.dependencies import Dependencies


def profile_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "webhookUrl": user.webhook_url,
        "emailNotifications": user.email_notifications,
    }


def register(app: Flask, deps: Dependencies) -> None:
    @app.get("/api/me")
    @doc(Operation("Your profile", {200: Reply("the profile", s.Profile)}, (401, 404),
                   auth=True, tag="profile"))  # fmt: skip
    @login_required
    def get_profile() -> Response:
        return jsonify(profile_json(webhooks.profile(deps, g.user_id)))

    @app.put("/api/me")
    @doc(Operation(
        "Change your webhook URL or turn e-mail off", {200: Reply("the profile", s.Profile)},
        (400, 401, 404, 413), Body(("application/json",), s.ProfileBody), auth=True,
        tag="profile",
        description="400 for a URL that is not https (http is allowed in the embedded "
        "mode), or whose host resolves to a loopback, private, link-local, multicast or "
        "reserved address.",
    ))  # fmt: skip
    @login_required
    def put_profile() -> Response:
        user = webhooks.update_profile(deps, g.user_id, json_body())
        return jsonify(profile_json(user))

    @app.get("/api/me/webhook-secret")
    @doc(Operation(
        "Your webhook signing secret", {200: Reply("the secret", s.WebhookSecret)},
        (401, 404), auth=True, tag="profile",
        description="Made on first use. See docs/webhooks.md for verifying a signature.",
    ))  # fmt: skip
    @login_required
    def webhook_secret() -> Response:
        return jsonify(secret=webhooks.secret(deps, g.user_id))

    @app.post("/api/me/webhook-secret/rotate")
    @doc(Operation(
        "Replace your webhook signing secret", {200: Reply("the new secret", s.WebhookSecret)},
        (401, 404), auth=True, tag="profile",
        description="Events signed from now on, retries of earlier events included, use "
        "the new secret.",
    ))  # fmt: skip
    @login_required
    def rotate_webhook_secret() -> Response:
        return jsonify(secret=webhooks.secret(deps, g.user_id, rotate=True))
