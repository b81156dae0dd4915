"""needs action: an index of the notifiable events without a report still open

``ix_notifiable_events_open_without_report``: a partial index on ``due_at`` of the
``notifiable_events`` rows with no incident (a DBS referral a manager records) that are
not closed, so the needs-action list (``/overdue``, ``fosterbot overdue``, the digest, the
console) and ``/healthz`` find the overdue ones by a range of the open referrals only,
never the closed history nor the events of reports (``bot/review/needs.py``
``overdue_events``). Without it the planners, seeing most rows without an incident, scan
the table.

Revision ID: 0018_referral_needs_index
Revises: 0017_shared_send_budget
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_referral_needs_index"
down_revision = "0017_shared_send_budget"
branch_labels = None
depends_on = None

NAME = "ix_notifiable_events_open_without_report"
WHERE = "incident_id IS NULL AND closed_at IS NULL"


def upgrade() -> None:
    op.create_index(NAME, "notifiable_events", ["due_at"],
                    sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index(NAME, table_name="notifiable_events")
