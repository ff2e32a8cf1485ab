"""message group

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 09:00:00.000000

Fair share of the conversion slots between users (domain/fair_share.py): each queued
message carries the group it is shared by (a conversion request: its owner's id, the
``userId`` attribute), so the worker can hand a free slot to whoever runs least.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("group_key", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("group_key")
