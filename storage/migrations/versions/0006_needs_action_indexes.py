"""needs action: deadlines that stay put, and an index per clock

``incidents.ack_due_at`` (the frozen plan's first step), ``outcome_due_at``
(set on acknowledgement) and ``undelivered_since`` (the first message about the
incident that reached nobody), with one index per clock so the needs-action
list (``/overdue``, ``fosterbot overdue``, the digest) is a few range scans
whatever the size of the closed record. Rows that are not closed are filled in
from what the database already holds. ``digest_days`` records the days the
managers' morning digest went out (its primary key is the once-a-day claim).

Revision ID: 0006_needs_action_indexes
Revises: 0005_drop_unused_tables
"""

import json
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0006_needs_action_indexes"
down_revision = "0005_drop_unused_tables"
branch_labels = None
depends_on = None

COLUMNS = ("ack_due_at", "outcome_due_at", "undelivered_since")
INDEXES = {
    # The team last: a manager's scope is checked in the index, with no table lookups.
    "ix_incidents_status_ack_due": ["status", "ack_due_at", "team_id"],
    "ix_incidents_status_outcome_due": ["status", "outcome_due_at", "team_id"],
    "ix_incidents_notified_due": ["notification_due_at", "team_id"],  # partial: PENDING
    "ix_incidents_status_undelivered": ["status", "undelivered_since", "team_id"],
}


# Only notifications still to record: the planners cannot tell from column statistics
# that the recorded ones are the ones with a deadline.
PENDING = "notified_at IS NULL AND notification_due_at IS NOT NULL"
PARTIAL = {"ix_incidents_notified_due": PENDING}


def _utc(value):
    """A stored time as naive UTC for the bind (SQLite stores naive UTC; PostgreSQL is aware)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        for name, cols in INDEXES.items():
            where = PARTIAL.get(name)
            kw = {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)} if where else {}
            batch.create_index(name, cols, **kw)
    _backfill()
    op.create_table(
        "digest_days",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )


def _backfill() -> None:
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"

    def bind(value):
        value = _utc(value)
        if value is not None and sqlite:
            return value.replace(tzinfo=None)
        return value

    rows = conn.execute(sa.text(
        "SELECT id, status, plan, next_step, next_due_at FROM incidents WHERE status <> 'closed'"
    )).fetchall()
    for iid, status, plan, next_step, next_due_at in rows:
        if isinstance(plan, str):
            plan = json.loads(plan or "{}")
        steps = (plan or {}).get("steps") or []
        ack_due = datetime.fromisoformat(steps[0]["due"]) if steps else None
        outcome_due = None
        if status == "acknowledged":
            if next_step == "outcome1":
                outcome_due = next_due_at
            else:
                outcome_due = conn.execute(sa.text(
                    "SELECT due_at FROM escalation_actions WHERE incident_id = :i "
                    "AND step_key = 'outcome1'"), {"i": iid}).scalar()
        undelivered = conn.execute(sa.text(
            "SELECT min(at) FROM audit_events WHERE incident_id = :i AND event = "
            "'escalation_unreachable'"), {"i": iid}).scalar()
        failed = conn.execute(sa.text(
            "SELECT min(created_at) FROM deliveries WHERE incident_id = :i "
            "AND status = 'failed' AND method = 'send'"), {"i": iid}).scalar()
        times = [_utc(t) for t in (undelivered, failed) if t is not None]
        conn.execute(sa.text(
            "UPDATE incidents SET ack_due_at = :a, outcome_due_at = :o, undelivered_since = :u "
            "WHERE id = :i"),
            {"a": bind(ack_due), "o": bind(outcome_due),
             "u": bind(min(times)) if times else None, "i": iid})


def downgrade() -> None:
    op.drop_table("digest_days")
    with op.batch_alter_table("incidents") as batch:
        for name in INDEXES:
            batch.drop_index(name)
        for name in COLUMNS:
            batch.drop_column(name)
