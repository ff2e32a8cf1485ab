"""batches

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 23:00:00.000000

Tasks uploaded together belong to a batch (domain/batch.py): a table of batches and
a nullable ``tasks.batch_id``, set to NULL should its batch ever go.
"""

from typing import Literal

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_batches_user_id", "batches", ["user_id"])
    # SQLite adds a foreign key only by rebuilding the table, which must keep AUTOINCREMENT.
    sqlite = op.get_bind().dialect.name == "sqlite"
    recreate: Literal["always", "auto"] = "always" if sqlite else "auto"
    autoincrement = {"sqlite_autoincrement": True}
    with op.batch_alter_table("tasks", recreate=recreate, table_kwargs=autoincrement) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_tasks_batch_id", "batches", ["batch_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index("ix_tasks_batch_id", ["batch_id"])


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    recreate: Literal["always", "auto"] = "always" if sqlite else "auto"
    autoincrement = {"sqlite_autoincrement": True}
    with op.batch_alter_table("tasks", recreate=recreate, table_kwargs=autoincrement) as batch_op:
        batch_op.drop_index("ix_tasks_batch_id")
        batch_op.drop_constraint("fk_tasks_batch_id", type_="foreignkey")
        batch_op.drop_column("batch_id")
    op.drop_index("ix_batches_user_id", table_name="batches")
    op.drop_table("batches")
