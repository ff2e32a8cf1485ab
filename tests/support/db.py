"""Fresh databases for a test run: a SQLite file, or a new PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pg8000.native

PG_HOST = os.environ.get("AUDIOCONV_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("AUDIOCONV_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("AUDIOCONV_TEST_PG_USER", "postgres")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create a uniquely named database, yield its SQLAlchemy URL, drop it afterwards."""
    name = f"audioconv_test_{uuid.uuid4().hex[:10]}"
    admin = pg8000.native.Connection(PG_USER, host=PG_HOST, port=PG_PORT, database="postgres")
    admin.run(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+pg8000://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def mark_verified(database_url: str, user_id: int) -> None:
    """Record the user's address as verified, as if its owner had followed the mailed
    link (for tests about something else: completion mails go to verified addresses)."""
    from sqlalchemy import create_engine, update

    from audioconv.adapters.orm import users
    from audioconv.domain.model import utcnow

    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(users).where(users.c.id == user_id).values(email_verified_at=utcnow())
            )
    finally:
        engine.dispose()
