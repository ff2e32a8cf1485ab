"""The Cloud Storage adapter's readiness check against the GCS emulator: an
existing bucket passes, a missing bucket fails, and so does a stopped service, at
once (no retries); and /readyz on Cloud Storage says so."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient
from google.api_core.exceptions import NotFound
from google.auth.credentials import AnonymousCredentials
from google.cloud.storage import Bucket, Client

from audioconv import bootstrap
from audioconv.adapters.gcs_blob import GcsBlobStore
from audioconv.config import Settings
from audioconv.entrypoints.api import create_app
from tests.support.gcs_emulator import running_gcs_emulator
from tests.support.procs import stop


def test_an_existing_bucket_is_ready(gcs_client: Client, bucket: Bucket) -> None:
    GcsBlobStore(bucket.name, client=gcs_client).check()


def test_a_missing_bucket_is_not(gcs_client: Client) -> None:
    with pytest.raises(NotFound):
        GcsBlobStore("audioconv-no-such-bucket", client=gcs_client).check()


@pytest.fixture
def own_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[subprocess.Popen[bytes]]:
    """An emulator of this test's own, to stop."""
    with running_gcs_emulator() as (url, proc):
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
        yield proc


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_readyz_on_cloud_storage(
    own_emulator: subprocess.Popen[bytes], settings: Settings, tmp_path: Path
) -> None:
    client = Client(project="test-project", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    bucket = client.create_bucket("audioconv-readyz")
    deps = bootstrap.build(settings)
    deps.blobs = GcsBlobStore(bucket.name, client=client)
    try:
        ready = create_app(deps).test_client().get("/readyz")
        assert ready.status_code == 200, ready.get_json()
        stop(own_emulator)  # Cloud Storage is gone
        with pytest.raises(requests.ConnectionError):
            deps.blobs.check()
        # A new instance (a pass is reused for a few seconds by the one above).
        api: FlaskClient = create_app(deps).test_client()
        gone = api.get("/readyz")
        assert gone.status_code == 503
        checks = gone.get_json()["checks"]
        assert checks == {"database": "ok", "blobStore": "failing", "ffmpeg": "ok"}
    finally:
        deps.close()
