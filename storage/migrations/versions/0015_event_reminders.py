"""reminders for a notifiable event with no report (a DBS referral recorded directly)

* ``notifiable_events.reminder_step``: the number of the next reminder (1, 2, …).
* ``notifiable_events.next_reminder_at``: when it falls due; cleared when every
  recipient is recorded or the event is found not notifiable (indexed: the engine
  asks for the due ones).

An event on a report keeps using the report's notification clock; these columns are
set only on events without one. Existing open events without a report get their first
reminder at once after the upgrade.

Revision ID: 0015_event_reminders
Revises: 0013_notification_register
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0015_event_reminders"
down_revision = "0014_web_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = storage.models.UTCDateTime(timezone=True)
    with op.batch_alter_table("notifiable_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminder_step", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("next_reminder_at", utc, nullable=True))
        batch_op.create_index(batch_op.f("ix_notifiable_events_next_reminder_at"),
                              ["next_reminder_at"], unique=False)
    op.execute(sa.text(
        "UPDATE notifiable_events SET reminder_step = 1, next_reminder_at = opened_at "
        "WHERE incident_id IS NULL AND closed_at IS NULL"))


def downgrade() -> None:
    with op.batch_alter_table("notifiable_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifiable_events_next_reminder_at"))
        batch_op.drop_column("next_reminder_at")
        batch_op.drop_column("reminder_step")
