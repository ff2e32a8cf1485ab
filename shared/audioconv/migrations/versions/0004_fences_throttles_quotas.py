"""ids never reused, claim tokens, stored sizes, throttles, used upload ids

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 20:20:00.000000

SQLite reused the id of a deleted row (its tables lacked AUTOINCREMENT), so a
stale conversion attempt could pass the old fence (id, revision, attempt) and
write onto another user's new task. Tables are rebuilt with AUTOINCREMENT
(PostgreSQL's sequences never reuse ids), and each claim gets a unique token.
"""

from typing import Literal

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite: rebuilt with AUTOINCREMENT (the copy keeps every id and sets the sequence).
    sqlite = op.get_bind().dialect.name == "sqlite"
    recreate: Literal["always", "auto"] = "always" if sqlite else "auto"
    autoincrement = {"sqlite_autoincrement": True}
    with op.batch_alter_table("users", recreate=recreate, table_kwargs=autoincrement):
        pass
    with op.batch_alter_table("tasks", recreate=recreate, table_kwargs=autoincrement) as batch_op:
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("input_bytes", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("output_bytes", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.create_table(
        "throttles",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "used_uploads",
        sa.Column("upload_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("upload_id"),
    )


def downgrade() -> None:
    op.drop_table("used_uploads")
    op.drop_table("throttles")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("output_bytes")
        batch_op.drop_column("input_bytes")
        batch_op.drop_column("claim_token")
