"""verify_push against a local certs endpoint and tokens signed like Google's."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from audioconv.config import Settings
from audioconv.domain.errors import RetryLater, Unauthorized
from audioconv.entrypoints.push_auth import verify_push
from tests.cloud.oidc import CertsServer, SigningKey, mint_token, start_certs_server
from tests.support.procs import free_port

AUDIENCE = "https://worker-dot-audioconv.appspot.com/pubsub"
PUSHER = "pubsub-push@audioconv.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def certs() -> Iterator[CertsServer]:
    with start_certs_server() as server:
        yield server


@pytest.fixture
def settings(certs: CertsServer) -> Settings:
    return Settings(
        push_auth=True,
        push_audience=AUDIENCE,
        push_service_account=PUSHER,
        oidc_certs_url=certs.url,
    )


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_good_token_is_accepted(certs: CertsServer, settings: Settings) -> None:
    claims = verify_push(bearer(certs.mint_token(AUDIENCE, PUSHER)), settings)
    assert claims["email"] == PUSHER
    assert claims["aud"] == AUDIENCE


def test_short_issuer_form_is_accepted(certs: CertsServer, settings: Settings) -> None:
    token = certs.mint_token(AUDIENCE, PUSHER, issuer="accounts.google.com")
    assert verify_push(bearer(token), settings)["iss"] == "accounts.google.com"


def test_small_clock_skew_is_tolerated(certs: CertsServer, settings: Settings) -> None:
    token = certs.mint_token(AUDIENCE, PUSHER, issued_at=time.time() + 5)
    assert verify_push(bearer(token), settings)["email"] == PUSHER


def test_local_mode_needs_no_token() -> None:
    assert verify_push(None, Settings(push_auth=False)) == {}


@pytest.mark.parametrize(
    "header, message",
    [
        (None, "missing Authorization"),
        ("", "missing Authorization"),
        ("Basic dXNlcjpwYXNz", "Bearer"),
        ("Bearer", "Bearer"),
        ("Bearer   ", "Bearer"),
        ("Bearer not-a-jwt", "invalid push token"),
        ("Bearer a.b.c", "invalid push token"),
    ],
)
def test_missing_or_malformed_header(settings: Settings, header: str | None, message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        verify_push(header, settings)


def test_forged_signature(settings: Settings) -> None:
    """Same kid as the published cert, different private key."""
    forger = SigningKey.generate("test-key-1")
    with pytest.raises(Unauthorized, match="invalid push token"):
        verify_push(bearer(mint_token(forger, AUDIENCE, PUSHER)), settings)


def test_unknown_key_id(settings: Settings) -> None:
    stranger = SigningKey.generate("some-other-kid")
    with pytest.raises(Unauthorized, match="invalid push token"):
        verify_push(bearer(mint_token(stranger, AUDIENCE, PUSHER)), settings)


def test_expired_token(certs: CertsServer, settings: Settings) -> None:
    token = certs.mint_token(AUDIENCE, PUSHER, lifetime=-3600)
    with pytest.raises(Unauthorized, match="Token expired"):
        verify_push(bearer(token), settings)


def test_wrong_audience(certs: CertsServer, settings: Settings) -> None:
    token = certs.mint_token("https://someone-else.example/push", PUSHER)
    with pytest.raises(Unauthorized, match="wrong audience"):
        verify_push(bearer(token), settings)


def test_wrong_account(certs: CertsServer, settings: Settings) -> None:
    token = certs.mint_token(AUDIENCE, "attacker@evil.iam.gserviceaccount.com")
    with pytest.raises(Unauthorized, match="not the push account"):
        verify_push(bearer(token), settings)


def test_unverified_email(certs: CertsServer, settings: Settings) -> None:
    token = certs.mint_token(AUDIENCE, PUSHER, email_verified=False)
    with pytest.raises(Unauthorized, match="not verified"):
        verify_push(bearer(token), settings)


def test_wrong_issuer(certs: CertsServer, settings: Settings) -> None:
    token = certs.mint_token(AUDIENCE, PUSHER, issuer="https://evil.example")
    with pytest.raises(Unauthorized, match="issuer"):
        verify_push(bearer(token), settings)


def test_certificates_are_fetched_once() -> None:
    with start_certs_server() as server:
        settings = Settings(
            push_auth=True,
            push_audience=AUDIENCE,
            push_service_account=PUSHER,
            oidc_certs_url=server.url,
        )
        for _ in range(5):
            verify_push(bearer(server.mint_token(AUDIENCE, PUSHER)), settings)
        assert server.hits == 1


def test_unreachable_certificates_mean_retry_later(certs: CertsServer) -> None:
    settings = Settings(
        push_auth=True,
        push_audience=AUDIENCE,
        push_service_account=PUSHER,
        oidc_certs_url=f"http://127.0.0.1:{free_port()}/certs",
    )
    with pytest.raises(RetryLater):
        verify_push(bearer(certs.mint_token(AUDIENCE, PUSHER)), settings)


def test_push_auth_without_audience_is_a_config_error() -> None:
    with pytest.raises(RuntimeError, match="push_audience"):
        verify_push("Bearer x", Settings(push_auth=True, push_service_account=PUSHER))
