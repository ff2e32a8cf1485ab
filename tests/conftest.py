"""Shared fixtures: databases on SQLite and PostgreSQL, and fully wired services."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine

from audioconv import bootstrap, logs, migrate
from audioconv.adapters import orm
from audioconv.config import Settings
from audioconv.entrypoints.api import create_app
from audioconv.services.dependencies import Dependencies
from tests.support.db import fresh_postgres_database

DB_KINDS = ("sqlite", "postgresql")


@pytest.fixture(autouse=True)
def _fresh_log_state() -> Iterator[None]:
    """Each test starts with no log context and no secrets to redact from an earlier
    one (a test's throwaway password "ignored" must not hide that word in another's)."""
    literals = dict(logs._literals)
    token = logs.start()
    yield
    logs.finish(token)
    logs._literals.clear()
    logs._literals.update(literals)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        engine = create_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture
def clean_postgres_url(postgres_url: str) -> str:
    """The session's PostgreSQL database, emptied for this test."""
    engine = create_engine(postgres_url)
    _empty(engine)
    engine.dispose()
    return postgres_url


@pytest.fixture(params=DB_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Each test that touches the database runs on both SQLite and PostgreSQL, emptied."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("clean_postgres_url"))
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(orm.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """The report pass (a second ffmpeg run per conversion: loudness, exact length,
    waveform) only for tests marked ``report_pass``: those that check what it makes."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
        max_concurrent_conversions=2,
        mail_backend="folder",
        report_pass=request.node.get_closest_marker("report_pass") is not None,
    )


@pytest.fixture
def deps(settings: Settings) -> Iterator[Dependencies]:
    """Real adapters (database, disk, in-process bus, ffmpeg, mail folder), the event
    handlers subscribed to the bus with them."""
    built = bootstrap.build(settings)
    yield built
    built.close()


@pytest.fixture
def client(deps: Dependencies) -> FlaskClient:
    """The API as a Flask test client over ``deps``."""
    return create_app(deps).test_client()
