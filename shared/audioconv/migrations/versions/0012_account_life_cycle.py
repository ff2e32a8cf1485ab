"""account life cycle

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 09:00:00.000000

- ``api_tokens``: the record of each API token still standing, so logging out, a
  changed password and a deleted account revoke tokens on every process at once.
  Tokens issued before this migration carry no id and are refused: their holders log
  in again (once).
- ``users.email_verified_at``: when the address was verified. Existing accounts start
  unverified (NULL), as addresses were never checked: no completion mail goes to them
  until their owner asks for a link (page, ``audioconv verify-email``) and follows it.
- ``tasks.notified_at``: when the owner was last told of the task, so that a task
  converted again and again makes one notification per window, not one per revision.
- ``upload_webhooks.user_id``: whose a kept webhook URL is, so that it goes with the
  account.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None
# SQLite: a table rebuilt keeps AUTOINCREMENT, so ids are never reused.
KEEP_IDS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_index("ix_api_tokens_expires_at", "api_tokens", ["expires_at"])
    with op.batch_alter_table("users", table_kwargs=KEEP_IDS) as batch_op:
        batch_op.add_column(
            sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("tasks", table_kwargs=KEEP_IDS) as batch_op:
        batch_op.add_column(sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("upload_webhooks", sa.Column("user_id", sa.Integer(), nullable=True))
    op.create_index("ix_upload_webhooks_user_id", "upload_webhooks", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_upload_webhooks_user_id", table_name="upload_webhooks")
    with op.batch_alter_table("upload_webhooks") as batch_op:
        batch_op.drop_column("user_id")
    with op.batch_alter_table("tasks", table_kwargs=KEEP_IDS) as batch_op:
        batch_op.drop_column("notified_at")
    with op.batch_alter_table("users", table_kwargs=KEEP_IDS) as batch_op:
        batch_op.drop_column("email_verified_at")
    op.drop_index("ix_api_tokens_expires_at", table_name="api_tokens")
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
