"""Alembic environment: migrates the database the settings point at."""

from alembic import context
from sqlalchemy import Connection

from audioconv import bootstrap
from audioconv.adapters.database import make_engine
from audioconv.adapters.orm import metadata
from audioconv.config import Settings

connection = context.config.attributes.get("connection")


def run(conn: Connection) -> None:
    if conn.dialect.name == "sqlite" and not conn.in_transaction():
        # Rebuilding a table drops it: with foreign keys on, dropping ``users`` would
        # cascade to every task. SQLite ignores this pragma inside a transaction.
        conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    # Alembic's own command line (audioconv migrate hands in its connection).
    engine = make_engine(bootstrap.resolve_secrets(Settings()))
    with engine.connect() as conn:
        run(conn)
    engine.dispose()
