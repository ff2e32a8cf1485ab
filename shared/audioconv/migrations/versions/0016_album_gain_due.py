"""album gain due

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-03 14:00:00.000000

Album gain tags (issue 24, services/album_gain.py) are written once every track of the
batch is converted: ``tasks.album_gain_due`` records a processed track still waiting
for them, so the sweep finishes the album after a crash.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(
            sa.Column("album_gain_due", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("album_gain_due")
