"""kept outputs, quota reservations, sealed webhook secrets

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 08:30:00.000000

A convert-again keeps the task's previous output (downloadable) until the new one
exists: ``kept_output_*``. ``reserved_bytes`` holds room in the owner's storage quota
for the output being made (its predicted upper bound), so tasks in flight cannot
together outgrow the quota before any of them has written its output.

Webhook secrets are stored sealed (Fernet under a key derived from the service's
signing key: domain/webhook_events.seal_secret), so the column is widened and every secret
still in plain text is sealed here, with the configured signing key (the key file in
the data folder, ``AUDIOCONV_SECRET_KEY`` or its Secret Manager version).
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.alter_column(
            "webhook_secret", existing_type=sa.String(length=64), type_=sa.String(length=255)
        )
    _seal_plain_secrets()
    op.add_column("tasks", sa.Column("kept_output_key", sa.String(length=1024), nullable=True))
    op.add_column("tasks", sa.Column("kept_output_format", sa.String(length=16), nullable=True))
    for name in ("kept_output_bytes", "reserved_bytes"):
        op.add_column("tasks", sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))


def _seal_plain_secrets() -> None:
    from audioconv.domain.webhook_events import SECRET_PREFIX, seal_secret

    users = sa.table("users", sa.column("id", sa.Integer), sa.column("webhook_secret"))
    conn = op.get_bind()
    plain = conn.execute(
        sa.select(users.c.id, users.c.webhook_secret).where(
            users.c.webhook_secret.startswith(SECRET_PREFIX)
        )
    ).all()
    if not plain:  # (a new database: no settings needed)
        return
    from alembic import context

    from audioconv import bootstrap
    from audioconv.config import Settings

    given = context.config.attributes.get("settings")
    key = bootstrap.resolve_secrets(given if given is not None else Settings()).signing_key
    for user_id, secret in plain:
        sealed = seal_secret(secret, key)
        conn.execute(users.update().where(users.c.id == user_id).values(webhook_secret=sealed))


def downgrade() -> None:
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        for name in ("reserved_bytes", "kept_output_bytes", "kept_output_format",
                     "kept_output_key"):  # fmt: skip
            batch_op.drop_column(name)
