"""The API's answer to each error the services raise: its status and its message."""

from __future__ import annotations

import pytest
from flask import Flask

from audioconv.domain import errors as domain
from audioconv.entrypoints.errors import STATUS, status_of
from tests.unit.fakes import routes_app


def test_payload_too_large_says_the_limit() -> None:
    error = domain.PayloadTooLarge.over(1024)
    assert (status_of(error), error.message) == (
        413,
        "upload is larger than the limit of 1024 bytes",
    )


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (domain.InvalidInput("bad"), 400),
        (domain.Unauthorized("who?"), 401),
        (domain.Forbidden("no"), 403),
        (domain.NotFound("gone"), 404),
        (domain.Conflict("taken"), 409),
        (domain.PayloadTooLarge("big"), 413),
        (domain.UnsupportedMedia("not audio"), 415),
        (domain.TooManyRequests("slow down", retry_after=7), 429),
    ],
)
def test_each_error_is_answered_with_its_status_and_message(
    error: domain.AudioconvError, status: int
) -> None:
    app: Flask = routes_app()

    @app.get("/raise")
    def _raise() -> None:
        raise error

    response = app.test_client().get("/raise")
    assert (response.status_code, response.get_json()) == (status, {"message": error.message})
    if status == 429:
        assert response.headers["Retry-After"] == "7"
    if status == 413:
        assert response.headers["Connection"] == "close"


def test_an_error_without_its_own_status_takes_its_base_s() -> None:
    class NameTaken(domain.Conflict):
        pass

    assert status_of(NameTaken("taken")) == 409
    assert status_of(domain.AudioconvError("something")) == 400
    assert set(STATUS) <= set(domain.AudioconvError.__subclasses__())


def test_the_domain_errors_carry_no_http_status() -> None:
    assert not any(hasattr(kind, "status") for kind in STATUS)
