"""Routes of the signed-in user's profile: webhook URL, e-mail switch and address (its
verification), webhook secret, password, and deleting the account."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, jsonify

from audioconv.domain.model import User
from audioconv.entrypoints import schemas as s
from audioconv.entrypoints.appengine import client_address
from audioconv.entrypoints.routes.openapi import Body, Operation, Reply, doc
from audioconv.entrypoints.web import json_body, login_required, validated
from audioconv.services import accounts, profile, verification
from audioconv.services.dependencies import Dependencies


def profile_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "emailVerified": user.email_verified_at is not None,
        "webhookUrl": user.webhook_url,
        "emailNotifications": user.email_notifications,
    }


def register(app: Flask, deps: Dependencies) -> None:
    @app.get("/api/me")
    @doc(Operation("Your profile", {200: Reply("the profile", s.Profile)}, (401, 404),
                   auth=True, tag="profile"))  # fmt: skip
    @login_required
    def get_profile() -> Response:
        return jsonify(profile_json(profile.profile(deps, g.user_id)))

    @app.put("/api/me")
    @doc(Operation(
        "Change your webhook URL, turn e-mail off, or change your address",
        {200: Reply("the profile", s.Profile)},
        (400, 401, 404, 409, 413, 429), Body(("application/json",), s.ProfileBody), auth=True,
        tag="profile",
        description="400 for a URL that is not https (http is allowed in the embedded "
        "mode), or whose host resolves to a loopback, private, link-local, multicast or "
        "reserved address. A new `email` is unverified until the link mailed to it is "
        "followed; 409 if another account has it; 429 if the account asked for too many "
        "links lately (each new address is mailed one, as `POST /api/me/email/verify`).",
    ))  # fmt: skip
    @login_required
    def put_profile() -> Response:
        body = validated(s.ProfileBody, json_body())
        user = profile.update_profile(deps, g.user_id, **body.changes())
        return jsonify(profile_json(user))

    @app.get("/api/me/webhook-secret")
    @doc(Operation(
        "Your webhook signing secret", {200: Reply("the secret", s.WebhookSecret)},
        (401, 404), auth=True, tag="profile",
        description="Made on first use. See docs/webhooks.md for verifying a signature.",
    ))  # fmt: skip
    @login_required
    def webhook_secret() -> Response:
        return jsonify(secret=profile.secret(deps, g.user_id))

    @app.post("/api/me/webhook-secret/rotate")
    @doc(Operation(
        "Replace your webhook signing secret", {200: Reply("the new secret", s.WebhookSecret)},
        (401, 404), auth=True, tag="profile",
        description="Events signed from now on, retries of earlier events included, use "
        "the new secret.",
    ))  # fmt: skip
    @login_required
    def rotate_webhook_secret() -> Response:
        return jsonify(secret=profile.secret(deps, g.user_id, rotate=True))

    @app.post("/api/me/email/verify")
    @doc(Operation(
        "Mail the link that verifies your address again",
        {202: Reply("the mail is on its way", s.VerificationSent)}, (401, 404, 409, 429),
        auth=True, tag="profile",
        description="Until the address is verified no completion mail goes to it. 409 "
        "if it is verified already; 429 (with `Retry-After`) after two asks in a row, "
        "then ten minutes, doubling to an hour, between them.",
    ))  # fmt: skip
    @login_required
    def resend_verification() -> tuple[Response, int]:
        user = verification.resend(deps, g.user_id)
        return jsonify(email=user.email, sent=True), 202

    @app.put("/api/me/password")
    @doc(Operation(
        "Change your password", {200: Reply("changed", s.PasswordChanged)},
        (400, 401, 403, 404, 413, 429), Body(("application/json",), s.PasswordChangeBody),
        auth=True, tag="profile",
        description="The new password follows sign-up's rules (8 to 1024 characters) and "
        "differs from the old one. Every other token of the account is revoked, on every "
        "server at once; the one this request carries stays valid. 403 for a wrong old "
        "password, 429 after too many (as log-ins).",
    ))  # fmt: skip
    @login_required
    def change_password() -> Response:
        body = validated(s.PasswordChangeBody, json_body())
        revoked = accounts.change_password(
            deps, g.caller, body.old_password, body.new_password, client_address()
        )
        return jsonify(revokedTokens=revoked)

    @app.delete("/api/me")
    @doc(Operation(
        "Delete your account and everything it has",
        {200: Reply("deleted: how many of each thing went", s.AccountDeleted)},
        (400, 401, 403, 404, 413, 429), Body(("application/json",), s.DeleteAccountBody),
        auth=True, tag="profile",
        description="Needs your password (403 if wrong; 429 after too many, as log-ins). "
        "Removes every task with its files (inputs, outputs, waveforms), direct uploads, "
        "batches, webhooks, queued messages (conversions, mails, webhook attempts) and "
        "tokens. Work in progress for the account is dropped.",
    ))  # fmt: skip
    @login_required
    def delete_account() -> Response:
        body = validated(s.DeleteAccountBody, json_body())
        deleted = accounts.delete_account(deps, g.user_id, body.password, client_address())
        return jsonify(deleted=deleted.as_json())
