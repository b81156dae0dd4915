"""relinking: replacement invites and relink requests awaiting the current account (issue 14)

Revision ID: 0009_relink_requests
Revises: 0008_leases_limits_retention
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0009_relink_requests"
down_revision = "0008_leases_limits_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replaces_account", sa.Boolean(), nullable=False,
                                      server_default="0"))
    op.create_table(
        "relink_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=False),
        sa.Column("old_telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("new_telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("new_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["invite_id"], ["invites.id"],
                                name=op.f("fk_relink_requests_invite_id_invites")),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"],
                                name=op.f("fk_relink_requests_person_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relink_requests")),
    )
    with op.batch_alter_table("relink_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_relink_requests_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("relink_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relink_requests_person_id"))
    op.drop_table("relink_requests")
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.drop_column("replaces_account")
