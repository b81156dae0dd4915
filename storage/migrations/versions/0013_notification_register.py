"""the Schedule 7 notification register: notifiable events and a record per recipient

* ``notifiable_events``: one row per event to notify (an incident's category, a
  section 47 enquiry's start or outcome, a DBS referral), with its deadline,
  when it closed, and a "not notifiable, after review" decision and reason.
* ``notification_records``: one row per event and recipient: when, how, the
  reference given, who; for a phone call the written confirmation.

Existing rows: every notifiable incident gets its event (opened when reported,
due at its old deadline). The old single button meant "Ofsted and the
responsible authority notified", so an incident already recorded gets those two
recipients made at that time by that person, method unknown; one still open gets
the recipients Schedule 7 names for its category (a death also the Secretary of
State, the area authority and the integrated care board), none made yet.

Revision ID: 0013_notification_register
Revises: 0012_statutory_clocks
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0013_notification_register"
down_revision = "0012_statutory_clocks"
branch_labels = None
depends_on = None

# Frozen here (a migration must not import rules that may change later).
_BOTH = ("ofsted", "responsible_authority")
_OPEN_RECIPIENTS = {
    "death": ("ofsted", "responsible_authority", "secretary_of_state", "area_authority", "icb"),
    "infectious_disease": ("ofsted", "responsible_authority", "icb"),
    "exploitation": ("ofsted", "responsible_authority", "area_authority", "police"),
}


def _dt():
    return storage.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notifiable_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=True),
        sa.Column("opened_at", _dt(), nullable=False),
        sa.Column("opened_by_id", sa.String(length=64), nullable=True),
        sa.Column("due_at", _dt(), nullable=False),
        sa.Column("closed_at", _dt(), nullable=True),
        sa.Column("not_notifiable_reason", sa.Text(), nullable=True),
        sa.Column("decided_by_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["decided_by_id"], ["people.id"],
                                name=op.f("fk_notifiable_events_decided_by_id_people")),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_notifiable_events_incident_id_incidents")),
        sa.ForeignKeyConstraint(["opened_by_id"], ["people.id"],
                                name=op.f("fk_notifiable_events_opened_by_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifiable_events")),
        sa.UniqueConstraint("incident_id", "event",
                            name=op.f("uq_notifiable_events_incident_id")),
    )
    op.create_index(op.f("ix_notifiable_events_incident_id"), "notifiable_events",
                    ["incident_id"], unique=False)
    op.create_index(op.f("ix_notifiable_events_opened_at"), "notifiable_events",
                    ["opened_at"], unique=False)
    op.create_table(
        "notification_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("made_at", _dt(), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("made_by_id", sa.String(length=64), nullable=True),
        sa.Column("confirmed_at", _dt(), nullable=True),
        sa.Column("confirm_reference", sa.String(length=100), nullable=True),
        sa.Column("confirmed_by_id", sa.String(length=64), nullable=True),
        sa.Column("not_required_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["confirmed_by_id"], ["people.id"],
                                name=op.f("fk_notification_records_confirmed_by_id_people")),
        sa.ForeignKeyConstraint(["event_id"], ["notifiable_events.id"],
                                name=op.f("fk_notification_records_event_id_notifiable_events")),
        sa.ForeignKeyConstraint(["made_by_id"], ["people.id"],
                                name=op.f("fk_notification_records_made_by_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_records")),
        sa.UniqueConstraint("event_id", "recipient",
                            name=op.f("uq_notification_records_event_id")),
    )
    op.create_index(op.f("ix_notification_records_event_id"), "notification_records",
                    ["event_id"], unique=False)
    _backfill()


def _backfill() -> None:
    op.execute(sa.text(
        "INSERT INTO notifiable_events (incident_id, event, opened_at, due_at, closed_at) "
        "SELECT id, category, reported_at, COALESCE(notification_due_at, reported_at), "
        "notified_at FROM incidents WHERE notifiable ORDER BY id"
    ))
    insert = ("INSERT INTO notification_records (event_id, recipient, made_at, made_by_id) "
              "SELECT e.id, :r, i.notified_at, i.notified_by_id FROM notifiable_events e "
              "JOIN incidents i ON i.id = e.incident_id")
    for r in _BOTH:
        op.execute(sa.text(insert).bindparams(r=r))
    extra: dict[str, list[str]] = {}
    for category, recipients in _OPEN_RECIPIENTS.items():
        for r in recipients:
            if r not in _BOTH:
                extra.setdefault(r, []).append(category)
    for r, categories in extra.items():
        op.execute(sa.text(
            insert + " WHERE i.notified_at IS NULL AND i.category IN :cats"
        ).bindparams(sa.bindparam("cats", expanding=True), r=r, cats=categories))


def downgrade() -> None:
    op.drop_index(op.f("ix_notification_records_event_id"), table_name="notification_records")
    op.drop_table("notification_records")
    op.drop_index(op.f("ix_notifiable_events_opened_at"), table_name="notifiable_events")
    op.drop_index(op.f("ix_notifiable_events_incident_id"), table_name="notifiable_events")
    op.drop_table("notifiable_events")
