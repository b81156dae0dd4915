"""several instances on one PostgreSQL: Telegram's flood limits kept in the database

* ``send_buckets``: one token bucket per chat (``chat:<id>``) and one for the
  whole bot (``global``), drawn on by every send of every instance
  (``storage/send_budget.py``), so the service as a whole stays inside
  Telegram's limits. One row per chat the bot ever wrote to (bounded by the
  directory); SQLite (one instance) never writes it.

Revision ID: 0017_shared_send_budget
Revises: 0013_notification_register
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0017_shared_send_budget"
down_revision = "0016_stranger_windows"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_buckets",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_send_buckets")),
    )


def downgrade() -> None:
    op.drop_table("send_buckets")
