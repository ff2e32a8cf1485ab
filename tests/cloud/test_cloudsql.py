"""cloud_sql_engine with a real Connector whose network step is swapped for local PostgreSQL.

There is no Cloud SQL here. The Connector is constructed for real (from a
throwaway service-account key), and only ``Connector.connect`` - the call that
would fetch an ephemeral certificate and open TLS to the instance - is replaced
by one that checks its arguments and opens a pg8000 connection to the local
PostgreSQL. So this proves our wiring and pooling, not Google's connector.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pg8000.dbapi
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.cloud.sql.connector import Connector, IPTypes, RefreshStrategy
from sqlalchemy import Engine, text

from audioconv.adapters import cloudsql
from audioconv.adapters.database import make_engine
from audioconv.config import Settings
from tests.support.db import fresh_postgres_database

INSTANCE = "audioconv-prod:europe-west1:audioconv-pg"


@pytest.fixture(scope="module")
def local_pg() -> Iterator[dict[str, Any]]:
    """pg8000 connect() arguments for a fresh database on the local server."""
    with fresh_postgres_database() as url:
        parts = urlsplit(url)
        yield {
            "user": parts.username,
            "host": parts.hostname,
            "port": parts.port,
            "database": parts.path.lstrip("/"),
        }


@pytest.fixture
def adc_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Application Default Credentials from a throwaway service-account key file."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp_path / "key.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "audioconv-prod",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "app@audioconv-prod.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))


@pytest.fixture
def calls(
    adc_key: None, local_pg: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[dict[str, Any]]]:
    """Record each Connector.connect call and answer it with a local connection."""
    recorded: list[dict[str, Any]] = []

    def connect(self: Connector, instance: str, driver: str, **kwargs: Any) -> Any:
        recorded.append(
            {
                "connector": self,
                "instance": instance,
                "driver": driver,
                "refresh": self._refresh_strategy,
                "ip_type": self._ip_type,
                "iam": self._enable_iam_auth,
                **kwargs,
            }
        )
        return pg8000.dbapi.connect(**local_pg)

    monkeypatch.setattr(Connector, "connect", connect)
    monkeypatch.setattr(cloudsql, "_connectors", {})
    yield recorded
    for connector in cloudsql._connectors.values():
        connector.close()


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "cloud_sql_instance": INSTANCE,
        "db_user": "audioconv",
        "db_password": "s3cret",
        "db_name": "audioconv",
        "db_pool_size": 2,
        "db_max_overflow": 1,
        "secret_key": "cloud-sql-test-secret-key-0123456789",
        **overrides,
    }
    return Settings(**values)


def query(engine: Engine, sql: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def test_password_login_over_public_ip(calls: list[dict[str, Any]]) -> None:
    engine = make_engine(settings())  # the app's own entry point picks Cloud SQL

    assert query(engine, "select 40 + 2") == 42
    call = calls[0]
    assert call["instance"] == INSTANCE
    assert call["driver"] == "pg8000"
    assert (call["user"], call["password"], call["db"]) == ("audioconv", "s3cret", "audioconv")
    assert call["refresh"] is RefreshStrategy.LAZY
    assert call["ip_type"] is IPTypes.PUBLIC
    assert call["iam"] is False
    assert engine.dialect.driver == "pg8000"
    assert engine.pool.size() == 2  # type: ignore[attr-defined]
    engine.dispose()


def test_iam_login_over_private_ip(calls: list[dict[str, Any]]) -> None:
    engine = make_engine(
        settings(
            db_iam_auth=True,
            db_private_ip=True,
            db_user="app@audioconv-prod.iam.gserviceaccount.com",
            db_password="ignored",
        )
    )
    assert query(engine, "select current_database()")
    call = calls[0]
    assert "password" not in call
    assert call["user"] == "app@audioconv-prod.iam"  # the IAM database user name
    assert call["iam"] is True
    assert call["ip_type"] is IPTypes.PRIVATE
    engine.dispose()


def test_real_work_through_the_pool(calls: list[dict[str, Any]]) -> None:
    engine = make_engine(settings())
    with engine.begin() as conn:
        conn.execute(text("create table if not exists probe (id serial primary key, v text)"))
        conn.execute(text("insert into probe (v) values ('a'), ('b')"))
    for _ in range(10):
        assert query(engine, "select count(*) from probe") >= 2
    assert len(calls) == 1  # one pooled connection served every checkout
    with engine.begin() as conn:
        conn.execute(text("drop table probe"))
    engine.dispose()


def test_one_connector_per_process(calls: list[dict[str, Any]]) -> None:
    first, second = make_engine(settings()), make_engine(settings())
    query(first, "select 1")
    query(second, "select 1")
    assert calls[0]["connector"] is calls[1]["connector"]
    first.dispose()
    second.dispose()


def test_dropped_connection_is_replaced(
    calls: list[dict[str, Any]], local_pg: dict[str, Any]
) -> None:
    """pool_pre_ping: a pooled connection the server closed is noticed and reopened."""
    engine = make_engine(settings())
    pid = query(engine, "select pg_backend_pid()")
    admin = pg8000.dbapi.connect(**local_pg)
    admin.cursor().execute("select pg_terminate_backend(%s)", (pid,))
    admin.close()
    assert query(engine, "select pg_backend_pid()") != pid
    assert len(calls) == 2
    engine.dispose()


def test_bad_instance_name_is_refused() -> None:
    with pytest.raises(ValueError, match="project:region:instance"):
        cloudsql.cloud_sql_engine(settings(cloud_sql_instance="just-a-name"))
