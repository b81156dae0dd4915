"""rotas and deputies: on-call rotas for duty and out of hours, a team's deputy manager (issue 13)

Revision ID: 0007_rotas_deputies
Revises: 0006_needs_action_indexes
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0007_rotas_deputies"
down_revision = "0006_needs_action_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deputy_id", sa.String(length=64), nullable=True))
    op.create_table(
        "rotas",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("shift", sa.String(length=8), nullable=False),
        sa.Column("handover_time", sa.String(length=5), nullable=False),
        sa.Column("handover_weekday", sa.Integer(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotas")),
    )
    op.create_table(
        "rota_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rota_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("starts_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"],
                                name=op.f("fk_rota_overrides_person_id_people")),
        sa.ForeignKeyConstraint(["rota_id"], ["rotas.id"], ondelete="CASCADE",
                                name=op.f("fk_rota_overrides_rota_id_rotas")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rota_overrides")),
    )
    with op.batch_alter_table("rota_overrides", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rota_overrides_rota_id"), ["rota_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rota_overrides", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rota_overrides_rota_id"))
    op.drop_table("rota_overrides")
    op.drop_table("rotas")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_column("deputy_id")
