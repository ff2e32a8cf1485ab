"""kept outputs, quota reservations

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 08:30:00.000000

A convert-again keeps the task's previous output (downloadable) until the new one
exists: ``kept_output_*``. ``reserved_bytes`` holds room in the owner's storage quota
for the output being made (its predicted upper bound), so tasks in flight cannot
together outgrow the quota before any of them has written its output.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("kept_output_key", sa.String(length=1024), nullable=True))
    op.add_column("tasks", sa.Column("kept_output_format", sa.String(length=16), nullable=True))
    for name in ("kept_output_bytes", "reserved_bytes"):
        op.add_column("tasks", sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        for name in ("reserved_bytes", "kept_output_bytes", "kept_output_format",
                     "kept_output_key"):  # fmt: skip
            batch_op.drop_column(name)
