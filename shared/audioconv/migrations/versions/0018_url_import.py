"""url import

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 14:00:00.000000

A task may name the URL its input is fetched from (``sourceUrl``, services/url_import.py):
the worker fetches it when it claims the task.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("source_url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("source_url")
