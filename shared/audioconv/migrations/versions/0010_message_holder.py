"""message holder

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 06:30:00.000000

``audioconv serve`` may run several worker processes: ``messages.holder`` names the
one handling a message (its ``AUDIOCONV_WORKER_ID``), so when it dies the supervisor
shows exactly its messages again at once, not after their visibility timeout.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("holder", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("holder")
