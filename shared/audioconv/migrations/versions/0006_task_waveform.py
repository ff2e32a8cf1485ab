"""task waveform image

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 23:00:00.000000

The worker stores a PNG of the input's and output's waveforms beside the output;
the task keeps its key (so downloads, deletion and the orphan sweep know it).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waveform_key", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("waveform_key")
