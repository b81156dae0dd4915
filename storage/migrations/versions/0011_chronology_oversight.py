"""chronology: child_events, and incidents indexed by (child, reported)

``child_events`` indexes a child's chronology events that belong to no
incident (allocation changes, placements removed, oversight on the child);
each row points at the audit event recording it. ``ix_incidents_child_reported``
serves a child's incidents newest first within a period, and replaces
``ix_incidents_child_ref``.

Revision ID: 0011_chronology_oversight
Revises: 0010_encryption_content_hash
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0011_chronology_oversight"
down_revision = "0010_encryption_content_hash"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "child_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("child_ref", sa.String(length=32), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("audit_event_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["audit_event_id"], ["audit_events.id"],
                                name=op.f("fk_child_events_audit_event_id_audit_events")),
        sa.ForeignKeyConstraint(["child_ref"], ["children.ref"],
                                name=op.f("fk_child_events_child_ref_children")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_child_events")),
    )
    op.create_index("ix_child_events_child_at", "child_events", ["child_ref", "at"])
    op.create_index("ix_incidents_child_reported", "incidents", ["child_ref", "reported_at"])
    # The composite index serves lookups by child alone too; the old one only cost writes
    # (and PostgreSQL preferred it, then sorted).
    op.drop_index("ix_incidents_child_ref", table_name="incidents")


def downgrade() -> None:
    op.create_index("ix_incidents_child_ref", "incidents", ["child_ref"])
    op.drop_index("ix_incidents_child_reported", table_name="incidents")
    op.drop_index("ix_child_events_child_at", table_name="child_events")
    op.drop_table("child_events")
