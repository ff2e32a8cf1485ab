"""/healthz answers while the process lives; /readyz (and App Engine's warmup) say
which of the database, the blob store and ffmpeg does not answer, on the real
adapters: a dropped PostgreSQL database, a deleted SQLite file, a removed blob
folder, a wrong ffmpeg path."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pg8000.native
import pytest
from flask.testing import FlaskClient

from audioconv import bootstrap, migrate
from audioconv.config import Settings
from audioconv.entrypoints.api import create_app
from audioconv.services.dependencies import Dependencies
from tests.support.db import PG_HOST, PG_PORT, PG_USER, fresh_postgres_database

ALL_OK = {"database": "ok", "blobStore": "ok", "ffmpeg": "ok"}


def _app(settings: Settings) -> Iterator[tuple[FlaskClient, Dependencies]]:
    deps = bootstrap.build(settings)
    try:
        yield create_app(deps).test_client(), deps
    finally:
        deps.close()


def _settings(tmp_path: Path, database_url: str, **extra: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-for-hs256", **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_healthz_and_readyz_when_all_is_well(client: FlaskClient) -> None:
    alive = client.get("/healthz")
    assert alive.status_code == 200 and alive.get_json() == {"status": "ok"}
    assert alive.headers["Cache-Control"] == "no-store"
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json() == {"status": "ready", "checks": ALL_OK}
    assert ready.headers["Cache-Control"] == "no-store"
    warmup = client.get("/_ah/warmup")
    assert warmup.status_code == 200 and warmup.get_json()["checks"] == ALL_OK


def _not_ready(client: FlaskClient, failing: str) -> None:
    response = client.get("/readyz", headers={"X-Request-Id": "probe-1"})
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable" and body["requestId"] == "probe-1"
    assert body["checks"] == {**ALL_OK, failing: "failing"}
    assert body["message"] == f"not ready: {failing} not answering"
    assert client.get("/healthz").status_code == 200  # alive all the same


def test_a_dropped_postgresql_database_is_not_ready(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        _migrate(url)
        for client, _ in _app(_settings(tmp_path, url)):
            assert client.get("/readyz").status_code == 200
            name = url.rsplit("/", 1)[1]
            admin = pg8000.native.Connection(PG_USER, host=PG_HOST, port=PG_PORT,
                                             database="postgres")  # fmt: skip
            try:
                admin.run(f'DROP DATABASE "{name}" WITH (FORCE)')
            finally:
                admin.close()
            _not_ready(client, "database")


def _migrate(url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()


def test_a_deleted_sqlite_database_is_not_ready(tmp_path: Path) -> None:
    db = tmp_path / "gone.db"
    _migrate(f"sqlite:///{db}")
    for client, _ in _app(_settings(tmp_path, f"sqlite:///{db}")):
        db.unlink()
        _not_ready(client, "database")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_removed_blob_folder_is_not_ready(client: FlaskClient, deps: Dependencies) -> None:
    shutil.rmtree(deps.settings.data_dir / "blobs")
    _not_ready(client, "blobStore")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_wrong_ffmpeg_path_is_not_ready(tmp_path: Path, database_url: str) -> None:
    settings = _settings(tmp_path, database_url, ffmpeg_path=str(tmp_path / "no-ffmpeg"))
    for client, _ in _app(settings):
        _not_ready(client, "ffmpeg")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_ffmpeg_that_is_not_ffmpeg_is_not_ready(tmp_path: Path, database_url: str) -> None:
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    for client, _ in _app(_settings(tmp_path, database_url, ffprobe_path=str(fake))):
        _not_ready(client, "ffmpeg")
