"""Routes of accounts: sign up and log in (``/api/auth/...``)."""

from __future__ import annotations

from flask import Flask, Response, jsonify

from audioconv.entrypoints import schemas as s
from audioconv.entrypoints.appengine import client_address
from audioconv.entrypoints.openapi import Body, Operation, Reply, doc
from audioconv.entrypoints.web import json_body, json_field
from audioconv.services import auth
from audioconv.services.dependencies import Dependencies


def register(app: Flask, deps: Dependencies) -> None:
    @app.post("/api/auth/signup")
    @doc(Operation(
        "Create an account", {201: Reply("the new user's id and a token", s.SignedUp)},
        (400, 409, 413, 429), Body(("application/json",), s.SignupBody), tag="auth",
        description="409 if the username (NFKC, case-folded) or e-mail is taken; "
        "429 after too many sign-ups from one address.",
    ))  # fmt: skip
    def signup() -> tuple[Response, int]:
        body = json_body()
        user = auth.signup(
            deps,
            json_field(body, "username"),
            json_field(body, "email"),
            json_field(body, "password1"),
            json_field(body, "password2"),
            client_address(),
        )
        return jsonify(id=user.id, token=auth.issue_token(deps, user)), 201

    @app.post("/api/auth/login")
    @doc(Operation(
        "Get a token", {200: Reply("a bearer token", s.Token)}, (400, 401, 413, 429),
        Body(("application/json",), s.LoginBody), tag="auth",
        description="429 after too many failed attempts for the account or the address.",
    ))  # fmt: skip
    def login() -> Response:
        body = json_body()
        user = auth.login(
            deps, json_field(body, "username"), json_field(body, "password"), client_address()
        )
        return jsonify(token=auth.issue_token(deps, user))
