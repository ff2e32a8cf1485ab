"""What the engine tests that go through the API share: a signed-up user on the
Flask test client over ``deps`` (real ffmpeg)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from audioconv.entrypoints.api import create_app
from audioconv.services.dependencies import Dependencies
from tests.support.api import ApiClient


@pytest.fixture
def alice(deps: Dependencies) -> ApiClient:
    client: FlaskClient = create_app(deps).test_client()
    return ApiClient(client, "alice")
