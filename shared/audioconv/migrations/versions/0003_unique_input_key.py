"""one task per stored input

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 03:10:00.000000

A direct upload's finalize event may arrive twice at once; the unique input
key lets only one of them create the task.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_tasks_input_key", ["input_key"])


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint("uq_tasks_input_key", type_="unique")
