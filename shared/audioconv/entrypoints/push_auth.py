"""Authenticate Pub/Sub push requests by their Google-signed OIDC token.

Pub/Sub push subscriptions with an ``oidc_token`` send
``Authorization: Bearer <JWT>``, signed by Google, for the configured audience
and service account. Anyone can reach an App Engine URL, so every push handler
checks this before it trusts the envelope.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import Any, cast

import google.auth.transport.requests
from google.auth import exceptions as auth_exceptions
from google.auth import transport
from google.oauth2 import id_token

from audioconv.config import Settings
from audioconv.domain.errors import RetryLater, Unauthorized

ISSUERS = ("accounts.google.com", "https://accounts.google.com")
# Tolerated difference between Google's clock and ours when checking iat/exp.
CLOCK_SKEW_SECONDS = 10


class _CachingRequest(transport.Request):
    """A transport that caches certificate GETs for their Cache-Control max-age.

    ``id_token.verify_token`` fetches the signing certificates on every call;
    Google serves them with a max-age of hours, so one fetch serves many pushes.
    """

    DEFAULT_TTL = 300.0
    MAX_TTL = 3600.0

    def __init__(self) -> None:
        self._inner = google.auth.transport.requests.Request()
        self._cache: dict[str, tuple[float, transport.Response]] = {}
        self._lock = threading.Lock()

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> transport.Response:
        if timeout is not None:
            kwargs["timeout"] = timeout
        if method != "GET" or body is not None:
            return cast(transport.Response, self._inner(url, method, body, headers, **kwargs))
        with self._lock:
            hit = self._cache.get(url)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        response = cast(transport.Response, self._inner(url, method, headers=headers, **kwargs))
        if response.status == 200:
            with self._lock:
                self._cache[url] = (time.monotonic() + _max_age(response), response)
        return response


def _max_age(response: transport.Response) -> float:
    match = re.search(r"max-age=(\d+)", response.headers.get("cache-control", ""))
    ttl = float(match.group(1)) if match else _CachingRequest.DEFAULT_TTL
    return min(ttl, _CachingRequest.MAX_TTL)


_request = _CachingRequest()


def verify_push(authorization_header: str | None, settings: Settings) -> dict[str, Any]:
    """The verified token claims; ``{}`` when push auth is off (local mode).

    Raises Unauthorized for a missing, malformed, forged, expired or misaddressed
    token, and RetryLater when Google's certificates cannot be fetched.
    """
    if not settings.push_auth:
        return {}
    if not settings.push_audience or not settings.push_service_account:
        raise RuntimeError("push_auth is on but push_audience or push_service_account is not set")
    if not authorization_header:
        raise Unauthorized("missing Authorization header on push request")
    scheme, _, token = authorization_header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    try:
        claims = dict(
            id_token.verify_token(
                token,
                _request,
                audience=settings.push_audience,
                certs_url=settings.oidc_certs_url,
                clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
            )
        )
    except auth_exceptions.TransportError as exc:
        raise RetryLater(f"cannot fetch token certificates: {exc}") from exc
    except (ValueError, auth_exceptions.GoogleAuthError) as exc:
        raise Unauthorized(f"invalid push token: {exc}") from exc
    if claims.get("iss") not in ISSUERS:
        raise Unauthorized(f"push token issuer {claims.get('iss')!r} is not Google")
    if claims.get("email") != settings.push_service_account:
        raise Unauthorized(f"push token is for {claims.get('email')!r}, not the push account")
    if claims.get("email_verified") is not True:
        raise Unauthorized("push token email is not verified")
    return claims
