"""Routes of accounts: sign up, log in, log out and verify an e-mail address
(``/api/auth/...``)."""

from __future__ import annotations

from flask import Flask, Response, g, jsonify, request

from audioconv.entrypoints import schemas as s
from audioconv.entrypoints.appengine import client_address
from audioconv.entrypoints.routes.openapi import Body, Operation, Reply, doc
from audioconv.entrypoints.web import json_body, login_required, validated
from audioconv.services import accounts, auth, verification
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
        body = validated(s.SignupBody, json_body())
        user = auth.signup(
            deps, body.username, body.email, body.password1, body.password2, client_address()
        )
        return jsonify(id=user.id, token=auth.issue_token(deps, user)), 201

    @app.post("/api/auth/login")
    @doc(Operation(
        "Get a token", {200: Reply("a bearer token", s.Token)}, (400, 401, 413, 429),
        Body(("application/json",), s.LoginBody), tag="auth",
        description="429 after too many failed attempts for the account or the address.",
    ))  # fmt: skip
    def login() -> Response:
        body = validated(s.LoginBody, json_body())
        user = auth.login(deps, body.username, body.password, client_address())
        return jsonify(token=auth.issue_token(deps, user))

    @app.post("/api/auth/logout")
    @doc(Operation(
        "Log out: revoke this token", {204: Reply("revoked, on every server at once")},
        (401,), auth=True, tag="auth",
        description="The token the request carries is refused from now on, by every API "
        "process and instance. Other tokens of the account stay valid.",
    ))  # fmt: skip
    @login_required
    def logout() -> tuple[str, int]:
        accounts.logout(deps, g.caller)
        return "", 204

    @app.get(verification.PATH)
    @doc(Operation(
        "Verify your e-mail address (the link mailed to it)",
        {200: Reply("verified: a small page for a browser, else JSON", s.EmailVerified,
                    file=("text/html",))},
        (400,), query=s.VerifyEmailQuery, tag="auth",
        description="The link in the mail sent at sign-up, on a change of address, or "
        "on request (`POST /api/me/email/verify`). 400 for a link that has expired, was "
        "sent to an address the account no longer has, or is not one.",
    ))  # fmt: skip
    def verify_email() -> Response:
        query = validated(s.VerifyEmailQuery, request.args)
        user = verification.verify(deps, query.token)
        if _wants_html():
            response = Response(_VERIFIED_PAGE, mimetype="text/html")
            response.headers["Content-Security-Policy"] = (
                "default-src 'none'; style-src 'self'; img-src data:; base-uri 'none'; "
                "form-action 'none'; "
                "frame-ancestors 'none'"
            )
        else:
            response = jsonify(email=user.email, emailVerified=True)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response


def _wants_html() -> bool:
    """Whether the client prefers a page (a browser following the link) to JSON."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


_VERIFIED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>audioconv: address verified</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/web/app.css"></head>
<body><header class="bar"><p class="h1">audioconv</p></header>
<main class="card"><h1>Your e-mail address is verified</h1>
<p>You will get a mail when a file of yours is converted (unless you turned mails off).</p>
<p><a class="button" href="/">Go to audioconv</a></p></main></body></html>
"""
