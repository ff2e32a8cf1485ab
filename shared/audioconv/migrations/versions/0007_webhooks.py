"""signed webhooks: URLs on users and tasks, the signing secret, delivery records

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 23:00:00.000000

A user's profile gets a webhook URL, the secret that signs its events and a
switch for e-mail; a task its own webhook URL and the outcome of every delivery
attempt and when the next is due; a direct upload keeps its webhook URL until its file arrives.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


# If SQLite rebuilds a table for a change, the copy must keep AUTOINCREMENT (ids are
# never reused: migration 0004).
KEEP_IDS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("users", table_kwargs=KEEP_IDS) as batch_op:
        batch_op.add_column(sa.Column("webhook_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("webhook_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("email_notifications", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("tasks", table_kwargs=KEEP_IDS) as batch_op:
        batch_op.add_column(sa.Column("webhook_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("webhook_deliveries", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("webhook_due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "upload_webhooks",
        sa.Column("upload_id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("upload_id"),
    )


def downgrade() -> None:
    op.drop_table("upload_webhooks")
    with op.batch_alter_table("tasks", table_kwargs=KEEP_IDS) as batch_op:
        batch_op.drop_column("webhook_due_at")
        batch_op.drop_column("webhook_deliveries")
        batch_op.drop_column("webhook_url")
    with op.batch_alter_table("users", table_kwargs=KEEP_IDS) as batch_op:
        batch_op.drop_column("email_notifications")
        batch_op.drop_column("webhook_secret")
        batch_op.drop_column("webhook_url")
