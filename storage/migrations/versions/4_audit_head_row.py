"""audit chain head: create its single row up front

Before this, the first audit event of each transaction ran
``INSERT … ON CONFLICT DO NOTHING`` on ``audit_head`` in case the row did not
exist yet. With the row made here, the chain code only locks and reads it (it
still creates the row when a database somehow lacks it).

Revision ID: 4_audit_head_row
Revises: 3_notification_clock
"""

import sqlalchemy as sa
from alembic import op

revision = "4_audit_head_row"
down_revision = "3_notification_clock"
branch_labels = None
depends_on = None

GENESIS = "0" * 64  # bot.audit.GENESIS (a migration must not import code that may change)


def upgrade() -> None:
    op.execute(sa.text(
        "INSERT INTO audit_head (id, last_event_id, last_hash, count) "
        "SELECT 1, 0, :genesis, 0 WHERE NOT EXISTS (SELECT 1 FROM audit_head WHERE id = 1)"
    ).bindparams(genesis=GENESIS))


def downgrade() -> None:
    # Nothing to undo: the row is the chain's state (an empty chain's row is harmless).
    pass
