"""handed-over replies: an index of the ones still waiting in the outbox, per chat

``ix_deliveries_handoff_pending``: a partial index on ``chat_id`` of the ``deliveries``
rows of kind ``handler_reply`` still ``pending`` (a handler's reply Telegram refused for
longer than a handler waits, handed to the outbox: ``bot/delivery/handoff.py``). Whether a
chat still owes such replies, and when the last of them is due, is asked of the database
on every handler send to a chat (not kept in memory, so a restart or another instance
cannot let a direct reply overtake one still in the outbox); the index is normally empty,
so the question costs one lookup of an empty range.

Revision ID: 0020_handoff_pending_index
Revises: 0019_needs_late_from
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_handoff_pending_index"
down_revision = "0019_needs_late_from"
branch_labels = None
depends_on = None

NAME = "ix_deliveries_handoff_pending"
WHERE = "kind = 'handler_reply' AND status = 'pending'"


def upgrade() -> None:
    op.create_index(NAME, "deliveries", ["chat_id", "next_attempt_at"],
                    sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index(NAME, table_name="deliveries")
