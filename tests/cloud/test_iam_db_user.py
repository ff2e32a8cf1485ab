"""Migrations with a non-owner login, as with Cloud SQL IAM database authentication.

On Cloud SQL the services' IAM user (``db_iam_auth``) is an ordinary role: it
does not own the database, and PostgreSQL 15 no longer lets PUBLIC create in
schema ``public``. Here the local PostgreSQL 15 plays the instance: the
``postgres`` user owns a fresh database (the built-in user that owns it on
Cloud SQL), and a new LOGIN role named like an IAM user plays the services.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pg8000.native
import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ProgrammingError

from audioconv import migrate
from audioconv.adapters.database import SqlUnitOfWork, session_factory
from audioconv.adapters.orm import users
from audioconv.domain.model import Task, User
from tests.support.db import PG_HOST, PG_PORT, PG_USER, fresh_postgres_database


@pytest.fixture
def app_role() -> Iterator[str]:
    """A LOGIN role with no privileges of its own, named like a Cloud SQL IAM user."""
    name = f"audioconv-app-{uuid.uuid4().hex[:8]}@proj.iam"
    admin = pg8000.native.Connection(PG_USER, host=PG_HOST, port=PG_PORT, database="postgres")
    admin.run(f'CREATE ROLE "{name}" LOGIN')
    try:
        yield name
    finally:
        admin.run(f'DROP ROLE IF EXISTS "{name}"')  # after the database (torn down first)
        admin.close()


@pytest.fixture
def owner_url(app_role: str) -> Iterator[URL]:
    with fresh_postgres_database() as url:
        yield make_url(url)


def engine_as(url: URL, role: str) -> Engine:
    return create_engine(url.set(username=role))


@pytest.fixture
def owner(owner_url: URL) -> Iterator[Engine]:
    engine = create_engine(owner_url)
    yield engine
    engine.dispose()


@pytest.fixture
def app(owner_url: URL, app_role: str) -> Iterator[Engine]:
    engine = engine_as(owner_url, app_role)
    yield engine
    engine.dispose()


def can_create_in_public(engine: Engine, role: str) -> bool:
    with engine.connect() as conn:
        query = text("SELECT has_schema_privilege(:role, 'public', 'CREATE')")
        return bool(conn.execute(query, {"role": role}).scalar_one())


def test_postgres_is_15_or_later(owner: Engine) -> None:
    with owner.connect() as conn:
        assert conn.execute(text("SHOW server_version_num")).scalar_one() >= "150000"


def test_the_services_role_cannot_migrate_by_itself(app: Engine, app_role: str) -> None:
    """What docs/deploy.md used to say (migrate as the IAM user) fails on PostgreSQL 15."""
    assert not can_create_in_public(app, app_role)
    with pytest.raises(ProgrammingError, match="permission denied for schema public"):
        migrate.upgrade(app)


def test_owner_migrates_and_grants_the_services_role_data_access(
    owner: Engine, app: Engine, app_role: str
) -> None:
    migrate.upgrade(owner, grant_to=app_role)

    # The services' own unit of work, as a sign-up and a conversion claim use it.
    with SqlUnitOfWork(session_factory(app)) as uow:
        user = User(username="ada", email="ada@example.com", password_hash="x")
        uow.users.add(user)
        uow.commit()
        task = Task(user.id or 0, "a.wav", "wav", "mp3", f"uploads/{user.id}/a.wav")
        uow.tasks.add(task)
        uow.commit()
    with SqlUnitOfWork(session_factory(app)) as uow:
        claimed = uow.tasks.get(task.id or 0, for_update=True)
        assert claimed is not None
        claimed.attempts += 1
        uow.commit()
    with SqlUnitOfWork(session_factory(app)) as uow:
        assert [t.attempts for t in uow.tasks.for_user(user.id or 0, None, False)] == [1]
        assert uow.users.by_username("ada") is not None

    # Data access only: the services cannot change or drop the schema.
    assert not can_create_in_public(app, app_role)
    with pytest.raises(ProgrammingError, match="must be owner"), app.begin() as conn:
        conn.execute(text("DROP TABLE tasks"))


def test_tables_of_later_migrations_are_granted_too(
    owner: Engine, app: Engine, app_role: str
) -> None:
    migrate.upgrade(owner, grant_to=app_role)
    # A later migration run without --grant-to still yields usable tables.
    with owner.begin() as conn:
        conn.execute(text("CREATE TABLE later (id serial PRIMARY KEY, note text)"))
    with app.begin() as conn:
        conn.execute(text("INSERT INTO later (note) VALUES ('ok')"))
        assert conn.execute(text("SELECT note FROM later")).scalar_one() == "ok"


def test_migrating_again_is_harmless(owner: Engine, app: Engine, app_role: str) -> None:
    migrate.upgrade(owner, grant_to=app_role)
    migrate.upgrade(owner, grant_to=app_role)
    with app.connect() as conn:
        assert conn.execute(select(users.c.id)).all() == []


def test_granting_to_the_migrating_user_itself_does_nothing(owner: Engine) -> None:
    """Password mode: the services log in as the owner, so there is nothing to grant."""
    migrate.upgrade(owner, grant_to=PG_USER)
    with owner.connect() as conn:
        assert not migrate.grant_data_access(conn, PG_USER)
