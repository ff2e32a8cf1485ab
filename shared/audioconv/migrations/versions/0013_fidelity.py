"""task fidelity

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 09:00:00.000000

What a conversion kept and warns of (issue 19, domain/fidelity.py): ``warnings`` (an
upscale, a lossy input made lossless, clipping), ``verified`` (the output decodes to
the input's very samples; null when no such promise was made), ``exact_length`` and
its reason when the target's container cannot say its exact length.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("warnings", sa.JSON(), nullable=True))
    op.add_column("tasks", sa.Column("verified", sa.Boolean(), nullable=True))
    op.add_column("tasks", sa.Column("exact_length", sa.Boolean(), nullable=True))
    op.add_column("tasks", sa.Column("exact_length_reason", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("exact_length_reason")
        batch_op.drop_column("exact_length")
        batch_op.drop_column("verified")
        batch_op.drop_column("warnings")
