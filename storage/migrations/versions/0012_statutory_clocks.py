"""statutory clocks: when a child entered care, babies removed at birth, tasks

* ``children.entered_care``: the day the child came into care (the needs
  assessment is due within 72 hours of it; issue 15).
* ``children.removed_at_birth``, ``placements.long_term``: facts later clocks use.
* ``tasks``: a statutory task on a child, with its due time, owner, reminder step
  and next reminder, and when, by whom and with what note it was done.

Revision ID: 0012_statutory_clocks
Revises: 0011_chronology_oversight
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0012_statutory_clocks"
down_revision = "0011_chronology_oversight"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("children", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entered_care", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("removed_at_birth", sa.Boolean(), nullable=False,
                                      server_default="0"))
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("long_term", sa.Boolean(), nullable=False,
                                      server_default="0"))
    utc = storage.models.UTCDateTime(timezone=True)
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("child_ref", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("due_at", utc, nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_at", utc, nullable=True),
        sa.Column("done_at", utc, nullable=True),
        sa.Column("done_by_id", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("closed_reason", sa.String(length=32), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.ForeignKeyConstraint(["child_ref"], ["children.ref"],
                                name=op.f("fk_tasks_child_ref_children")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_tasks_team_id_teams")),
        sa.ForeignKeyConstraint(["owner_id"], ["people.id"],
                                name=op.f("fk_tasks_owner_id_people")),
        sa.ForeignKeyConstraint(["done_by_id"], ["people.id"],
                                name=op.f("fk_tasks_done_by_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("child_ref", "key", name=op.f("uq_tasks_child_ref")),
    )
    op.create_index("ix_tasks_next_at", "tasks", ["next_at"], unique=False)
    op.create_index("ix_tasks_team_due", "tasks", ["team_id", "due_at"], unique=False)
    op.create_index(op.f("ix_tasks_owner_id"), "tasks", ["owner_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_tasks_owner_id"), table_name="tasks")
    op.drop_index("ix_tasks_team_due", table_name="tasks")
    op.drop_index("ix_tasks_next_at", table_name="tasks")
    op.drop_table("tasks")
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.drop_column("long_term")
    with op.batch_alter_table("children", schema=None) as batch_op:
        batch_op.drop_column("removed_at_birth")
        batch_op.drop_column("entered_care")
