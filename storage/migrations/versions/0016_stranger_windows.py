"""stranger windows: the per-account limit on unlinked users kept in the database (issue 14)

Revision ID: 0016_stranger_windows
Revises: 0013_notification_register
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0016_stranger_windows"
down_revision = "0015_event_reminders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stranger_windows",
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("started_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("previous", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("telegram_user_id", name=op.f("pk_stranger_windows")),
    )
    with op.batch_alter_table("stranger_windows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stranger_windows_started_at"), ["started_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stranger_windows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stranger_windows_started_at"))
    op.drop_table("stranger_windows")
