"""the web console: one-time sign-in links and browser sessions

* ``web_signin_links``: a link sent by ``/web`` (token stored as SHA-256, single use,
  ten minutes).
* ``web_sessions``: a signed-in browser (cookie token stored as SHA-256), with its idle
  and absolute expiry and why it ended.

Revision ID: 0014_web_console
Revises: 0013_notification_register
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0014_web_console"
down_revision = "0013_notification_register"
branch_labels = None
depends_on = None


def _dt():
    return storage.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "web_signin_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _dt(), nullable=False),
        sa.Column("expires_at", _dt(), nullable=False),
        sa.Column("used_at", _dt(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"],
                                name=op.f("fk_web_signin_links_person_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_signin_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_signin_links_token_hash")),
    )
    op.create_index(op.f("ix_web_signin_links_person_id"), "web_signin_links", ["person_id"])
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("how", sa.String(length=16), nullable=False),
        sa.Column("created_at", _dt(), nullable=False),
        sa.Column("last_seen_at", _dt(), nullable=False),
        sa.Column("expires_at", _dt(), nullable=False),
        sa.Column("ended_at", _dt(), nullable=True),
        sa.Column("ended_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"],
                                name=op.f("fk_web_sessions_person_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index(op.f("ix_web_sessions_person_id"), "web_sessions", ["person_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_web_sessions_person_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index(op.f("ix_web_signin_links_person_id"), table_name="web_signin_links")
    op.drop_table("web_signin_links")
