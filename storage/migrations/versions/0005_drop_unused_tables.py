"""drop unused tables: conversation_states and service_info

Both were made by the initial schema and never read or written: the report
conversation's state is the ``drafts`` row (the bot uses no python-telegram-bot
persistence), and no installation facts are kept in a key/value table. They
held nothing, so dropping them loses nothing; the downgrade makes them again,
empty.

Revision ID: 0005_drop_unused_tables
Revises: 4_audit_head_row
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0005_drop_unused_tables"
down_revision = "4_audit_head_row"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("conversation_states")
    op.drop_table("service_info")


def downgrade() -> None:
    op.create_table(
        "service_info",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_service_info")),
    )
    op.create_table(
        "conversation_states",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=True),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", "key", name=op.f("pk_conversation_states")),
    )
