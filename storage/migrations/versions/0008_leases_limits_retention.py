"""leases carry their sender's instance; invite lockouts double; purged records

* ``deliveries.lease_owner``: the instance id of the sender process that holds
  a row's lease, so a restarted sender reclaims its dead predecessor's leases
  at once instead of waiting for them to run out (issue 14, finding 7).
* ``sender_instances``: one row per running sender process (instance id, host,
  pid, started and last seen), so a new process can tell which leases belong
  to a process that is no longer alive.
* ``start_attempts.lockouts``: how many times an account has been locked out
  for wrong invite codes; each lockout lasts twice as long as the one before.
* ``incidents.purged_at``: a closed record past its retention period keeps a
  tombstone row (reference, dates, category) with its free text removed.

Revision ID: 0008_leases_limits_retention
Revises: 0007_rotas_deputies
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0008_leases_limits_retention"
down_revision = "0007_rotas_deputies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_deliveries_lease_owner", ["lease_owner"], unique=False)
    with op.batch_alter_table("start_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lockouts", sa.Integer(), nullable=False,
                                      server_default="0"))
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purged_at", storage.models.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "sender_instances",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sender_instances")),
    )


def downgrade() -> None:
    op.drop_table("sender_instances")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
    with op.batch_alter_table("start_attempts", schema=None) as batch_op:
        batch_op.drop_column("lockouts")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_lease_owner")
        batch_op.drop_column("lease_owner")
