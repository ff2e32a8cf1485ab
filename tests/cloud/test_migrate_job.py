"""The migrate Cloud Run job, run as scripts/deploy.sh deploys it, against PostgreSQL.

scripts/deploy.sh makes the job from the image with the rendered environment
(.deploy/migrate.env.yaml) and arguments (.deploy/migrate.args); the image's
entrypoint is the ``audioconv`` command, so the job runs ``audioconv migrate ARGS``.
Here that command runs with exactly that environment and those arguments. What
stands in for the cloud: the Cloud SQL connector's network step opens a connection
to the local PostgreSQL instead (as in test_cloudsql.py), Secret Manager is a stub
holding the project's secrets, and each service account's IAM database user is a
LOGIN role of the same name.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pg8000.dbapi
import pg8000.native
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.cloud.sql.connector import Connector
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from audioconv import cli
from audioconv.adapters import cloudsql
from tests.infra.secret_stub import StubSecretManager
from tests.support.db import PG_HOST, PG_PORT, PG_USER, fresh_postgres_database
from tests.support.deploy_config import fake_outputs, render
from tests.support.tfmodel import Terraform

SERVICES = ("api", "notify", "sweep", "worker")
SECRET_IDS = {"audioconv-db-password", "audioconv-secret-key", "audioconv-smtp-password"}


@pytest.fixture
def project() -> str:
    return f"mig{uuid.uuid4().hex[:8]}"  # role names are per server: one set per test


@pytest.fixture
def iam_users(project: str) -> Iterator[list[str]]:
    """LOGIN roles named like the services' Cloud SQL IAM users, with no privileges."""
    names = [f"audioconv-{key}@{project}.iam" for key in SERVICES]
    admin = pg8000.native.Connection(PG_USER, host=PG_HOST, port=PG_PORT, database="postgres")
    for name in names:
        admin.run(f'CREATE ROLE "{name}" LOGIN')
    try:
        yield names
    finally:
        for name in names:
            admin.run(f'DROP ROLE IF EXISTS "{name}"')
        admin.close()


@pytest.fixture
def database(iam_users: list[str]) -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def adc_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Application Default Credentials from a throwaway key (the connector wants some)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path / "adc.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account", "project_id": "p", "private_key_id": "k",
                "private_key": pem, "client_email": "migrate@p.iam.gserviceaccount.com",
                "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )  # fmt: skip
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))


def test_the_migrate_job_migrates_and_grants_as_deployed(
    project: str,
    database: str,
    iam_users: list[str],
    adc_key: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outputs = fake_outputs(Terraform.load(), project=project)
    render.render(outputs, lambda _p, secret: secret in SECRET_IDS, tmp_path / ".deploy", tmp_path)
    env = yaml.safe_load((tmp_path / ".deploy" / "migrate.env.yaml").read_text())
    args = (tmp_path / ".deploy" / "migrate.args").read_text().strip().split(",")

    # The image's entrypoint is the `audioconv` command: the job runs `audioconv ARGS`.
    assert args[0] == "migrate"

    # The job's environment, and nothing else of ours.
    for key in list(os.environ):
        if key.startswith("AUDIOCONV_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    secrets = {
        f"projects/{project}/secrets/audioconv-db-password/versions/latest": "owner-password",
        f"projects/{project}/secrets/audioconv-secret-key/versions/latest": "k" * 64,
    }
    StubSecretManager.install(monkeypatch, secrets)
    local = urlsplit(database)
    connections: list[dict[str, Any]] = []

    def connect(self: Connector, instance: str, driver: str, **kwargs: Any) -> Any:
        connections.append({"instance": instance, "iam": self._enable_iam_auth, **kwargs})
        return pg8000.dbapi.connect(
            user=PG_USER, host=local.hostname, port=local.port, database=local.path.lstrip("/")
        )

    monkeypatch.setattr(Connector, "connect", connect)
    monkeypatch.setattr(cloudsql, "_connectors", {})

    cli.main(args)  # what the job runs: the image's entrypoint, `audioconv`, with ARGS

    # It logged in as the built-in owner with the password from Secret Manager.
    assert connections and {c["instance"] for c in connections} == {
        f"{project}:us-central1:audioconv-pg"
    }
    assert {(c["user"], c["password"], c["iam"]) for c in connections} == {
        ("audioconv", "owner-password", False)
    }
    assert sorted(StubSecretManager.accessed) == sorted(secrets)
    # Every service's IAM user may read and write, and none may change the schema.
    for role in iam_users:
        engine = create_engine(database.replace(f"{PG_USER}@", f"{role}@"))
        with engine.begin() as conn:
            insert = text(
                "INSERT INTO users (username, email, password_hash, created_at) "
                "VALUES (:u, :u || '@example.com', 'x', now())"
            )
            conn.execute(insert, {"u": role[:20]})
            assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() >= 1
        with pytest.raises(ProgrammingError, match="permission denied"), engine.begin() as conn:
            conn.execute(text("CREATE TABLE not_allowed (id int)"))
        engine.dispose()
    for connector in cloudsql._connectors.values():
        connector.close()
