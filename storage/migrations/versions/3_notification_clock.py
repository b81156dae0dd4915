"""notification clock: the next reminder about a notifiable event (regulation 36)

Revision ID: 3_notification_clock
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "3_notification_clock"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notification_step", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("notification_next_at", storage.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_incidents_notification_next", ["notification_next_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_notification_next")
        batch_op.drop_column("notification_next_at")
        batch_op.drop_column("notification_step")
