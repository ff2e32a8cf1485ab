"""task report due

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 03:00:00.000000

The report pass (loudness, exact length, waveform) runs after a conversion, off its
path (services/report.py): ``tasks.report_due`` records one still to run, so the
sweep asks for it again after a crash.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(
            sa.Column("report_due", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("report_due")
