"""needs action: ``incidents.late_from``, the moment a report became late, kept by the database

The earliest deadline of the clocks that run for the report (acknowledgement while open,
outcome while acknowledged, notification while not recorded, undelivered while not closed):
a generated column, so every writer keeps it right without knowing of it (stored on
PostgreSQL; virtual on SQLite, which can add only those to a table, and computes it when a
row is written into the index). ``ix_incidents_late_from`` (late_from, team_id), partial (only
reports with a clock running), lets the needs-action list rank and count the late reports by
one range of one index (``bot/review/needs.py``); closed reports with nothing owed are not in
it. The expression is ``storage.models.LATE_FROM_SQL`` as it stood at this revision. No
backfill is needed: the database computes the column for the existing rows (PostgreSQL
rewrites the table once, in the migration).

Revision ID: 0019_needs_late_from
Revises: 0018_referral_needs_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_needs_late_from"
down_revision = "0018_referral_needs_index"
branch_labels = None
depends_on = None

NAME = "ix_incidents_late_from"
WHERE = "late_from IS NOT NULL"
RUNS = ("CASE WHEN (status = 'open') THEN ack_due_at END",
        "CASE WHEN (status = 'acknowledged') THEN outcome_due_at END",
        "CASE WHEN (notified_at IS NULL) THEN notification_due_at END",
        "CASE WHEN (status IN ('open', 'acknowledged')) THEN undelivered_since END")
FAR = "'9999-12-31 23:59:59.999999'"


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        parts = ", ".join(f"coalesce({r}, {FAR})" for r in RUNS)
        expr = f"nullif(min({parts}), {FAR})"
    else:
        expr = f"LEAST({', '.join(RUNS)})"
    op.add_column("incidents", sa.Column(
        "late_from", sa.DateTime(timezone=True), sa.Computed(sa.text(expr), persisted=not sqlite)))
    op.create_index(NAME, "incidents", ["late_from", "team_id"],
                    sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index(NAME, table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("late_from")
