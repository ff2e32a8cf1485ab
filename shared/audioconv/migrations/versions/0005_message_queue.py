"""the embedded mode's message queue

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 20:40:00.000000

The API runs in several processes and conversions in their own: messages pass
between them through this table (adapters/sql_queue.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("topic", "dedupe_key", name="uq_messages_topic_dedupe_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_messages_available_at", "messages", ["available_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_available_at", table_name="messages")
    op.drop_table("messages")
