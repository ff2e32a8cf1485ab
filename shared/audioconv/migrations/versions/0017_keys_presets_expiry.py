"""API keys, presets, task expiry

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 14:00:00.000000

- ``api_keys``: named, scoped keys for scripts (domain/api_key.py); only a keyed hash
  and a visible prefix of each key are kept.
- ``presets``: a user's named target format and options (domain/preset.py).
- ``tasks.expires_at``: when the sweep deletes the task and its files
  (``AUDIOCONV_RETENTION_HOURS``); NULL keeps it (existing tasks: until the setting
  is turned on, then from their creation).
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None
# SQLite: a table rebuilt keeps AUTOINCREMENT, so ids are never reused.
KEEP_IDS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_table(
        "presets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("output_format", sa.String(length=16), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "name", name="uq_presets_user_id_name"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_presets_user_id", "presets", ["user_id"])
    with op.batch_alter_table("tasks", table_kwargs=KEEP_IDS) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_tasks_expires_at", ["expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("tasks", table_kwargs=KEEP_IDS) as batch_op:
        batch_op.drop_index("ix_tasks_expires_at")
        batch_op.drop_column("expires_at")
    op.drop_index("ix_presets_user_id", table_name="presets")
    op.drop_table("presets")
    op.drop_index("ix_api_keys_user_id", table_name="api_keys")
    op.drop_table("api_keys")
