"""Fixtures for the cloud adapters: real emulators, started once per test session.

- GCS: PyPI ``gcp-storage-emulator`` in a subprocess (tests/support/gcs_emulator.py).
- Pub/Sub: Google's ``pstest`` fake, built by scripts/pstest/build.sh (publish and
  pull), and Google's own Pub/Sub emulator from google-cloud-cli (real push
  subscriptions, without OIDC tokens).
The clients find them through STORAGE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST, set
per test only.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient
from google.auth.credentials import AnonymousCredentials
from google.cloud.storage import Bucket, Client

from audioconv import bootstrap
from audioconv.adapters.gcs_blob import GcsBlobStore
from audioconv.config import Settings
from audioconv.entrypoints.api import create_app
from audioconv.services.dependencies import Dependencies
from tests.support.gcs_emulator import running_gcs_emulator
from tests.support.procs import stop
from tests.support.pubsub_emulator import running_pubsub_emulator
from tests.support.service_account import signing_client

ROOT = Path(__file__).resolve().parents[2]
PSTEST_BUILD = ROOT / "scripts" / "pstest" / "build.sh"
PSTEST_BIN = ROOT / "build" / "pstest"


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """Base URL of a running gcp-storage-emulator (in-memory)."""
    with running_gcs_emulator() as (url, _):
        yield url


@pytest.fixture
def gcs_client(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Client:
    """A storage client talking to the emulator, as the app's own Client() would."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    return Client(project="test-project", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]


@pytest.fixture
def bucket(gcs_client: Client) -> Bucket:
    """A fresh, empty bucket."""
    return gcs_client.create_bucket(f"audioconv-test-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def pstest() -> Iterator[str]:
    """host:port of a running pstest (Google's fake Pub/Sub server)."""
    build = subprocess.run([str(PSTEST_BUILD)], capture_output=True, text=True)
    if build.returncode != 0 or not PSTEST_BIN.exists():
        message = f"cannot build pstest:\n{build.stdout}{build.stderr}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    proc = subprocess.Popen([str(PSTEST_BIN)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("PUBSUB_EMULATOR_HOST="):
            pytest.fail(f"pstest did not report its address: {line!r}")
        yield line.partition("=")[2]
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[str]:
    """host:port of Google's Pub/Sub emulator (tests/support/pubsub_emulator.py)."""
    with running_pubsub_emulator() as host:
        yield host


@pytest.fixture
def pubsub_host(pstest: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point Pub/Sub clients made in this test at pstest."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pstest)
    return pstest


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    """A throwaway service-account key (tests/support/service_account.py)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def cloud_deps(
    settings: Settings,
    bucket: Bucket,
    rsa_key: rsa.RSAPrivateKey,
) -> Iterator[Dependencies]:
    """The real services, with files in the (emulated) bucket and a key that signs."""
    built = bootstrap.build(settings)
    built.blobs = GcsBlobStore(bucket.name, client=signing_client(rsa_key))
    yield built
    built.close()


@pytest.fixture
def cloud_client(cloud_deps: Dependencies) -> FlaskClient:
    """A test client of the API over ``cloud_deps``."""
    return create_app(cloud_deps).test_client()
