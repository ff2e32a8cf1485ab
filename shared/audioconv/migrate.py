"""Apply Alembic migrations programmatically (no alembic.ini needed): ``audioconv migrate``.

On Cloud SQL with IAM database authentication the services log in as the IAM
user of their service account. Since PostgreSQL 15 such a role may not create
tables in schema ``public`` (only its owner may), so migrations run as the
built-in user that owns the schema, and ``grant_to`` gives the services' role
the data privileges it needs, and no more:

    audioconv migrate --grant-to ROLE [--grant-to ROLE ...]

(in the cloud, the migrate job of scripts/deploy.sh, one ``--grant-to`` per
service account's IAM database user).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: `audioconv --help` and the client start fast
    from alembic.config import Config
    from sqlalchemy import Connection, Engine

    from audioconv.config import Settings

SCHEMA = "public"
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
SEQUENCE_PRIVILEGES = "USAGE, SELECT, UPDATE"

log = logging.getLogger(__name__)


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def grant_data_access(conn: Connection, role: str) -> bool:
    """Let role read and write every table and sequence in SCHEMA, now and those the
    migrating user creates later; False (nothing done) when role is that user."""
    from sqlalchemy import text

    if conn.dialect.name != "postgresql":
        raise ValueError("granting to a database role needs PostgreSQL")
    if conn.execute(text("SELECT current_user")).scalar_one() == role:
        return False
    who = conn.dialect.identifier_preparer.quote_identifier(role)
    for statement in (
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {who}",
        f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {SCHEMA} TO {who}",
        f"GRANT {SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {SCHEMA} GRANT {TABLE_PRIVILEGES} ON TABLES TO {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {SCHEMA}"
        f" GRANT {SEQUENCE_PRIVILEGES} ON SEQUENCES TO {who}",
    ):
        conn.execute(text(statement))
    return True


def upgrade(
    engine: Engine | None = None,
    *,
    grant_to: str | Sequence[str] | None = None,
    settings: Settings | None = None,
) -> None:
    """Bring the database to the newest schema; with no engine, that of ``settings``
    (their secrets resolved: startup.settings), else of the environment's settings.

    With grant_to (one role or several), then grant each role data access
    (``grant_data_access``)."""
    from alembic import command

    cfg = alembic_config()
    roles = [grant_to] if isinstance(grant_to, str) else list(grant_to or [])
    own = engine is None
    if engine is None:
        from audioconv import bootstrap
        from audioconv.adapters.database import make_engine
        from audioconv.config import Settings

        settings = bootstrap.resolve_secrets(settings if settings is not None else Settings())
        engine = make_engine(settings)
    # What a migration that needs a setting reads (0011: the signing key).
    cfg.attributes["settings"] = settings
    try:
        if not roles:
            # Not inside a transaction: env.py turns SQLite's foreign keys off first.
            with engine.connect() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            return
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            for role in roles:
                if grant_data_access(conn, role):
                    log.info("granted data access in schema %s to %s", SCHEMA, role)
    finally:
        if own:
            engine.dispose()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The migrate command's options (here and as ``audioconv migrate``)."""
    parser.add_argument(
        "--grant-to",
        metavar="ROLE",
        action="append",
        help="PostgreSQL role a service logs in as, when it is not the migrating user "
        "(a Cloud SQL IAM user with db_iam_auth): give it data access, no DDL; "
        "repeat for each",
    )


def run(args: argparse.Namespace, settings: Settings) -> None:
    """Migrate the database of ``settings``, then grant as ``args`` say."""
    upgrade(grant_to=args.grant_to or None, settings=settings)
    print("database is at the newest schema")
