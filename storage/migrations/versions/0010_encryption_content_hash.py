"""encryption at rest and the audit chain covering the record: content digests

Adds ``incidents.content_hash`` and ``incident_messages.content_hash`` (the
digest of the record the audit chain last vouched for; see
``storage/content.py``). Encryption at rest needs no schema change: encrypted
values live in the same text and JSON columns (``storage/crypto.py``), and
``fosterbot keys rotate`` encrypts values written before a key was configured.

Revision ID: 0010_encryption_content_hash
Revises: 0009_relink_requests
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_encryption_content_hash"
down_revision = "0009_relink_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("incident_messages") as batch:
        batch.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident_messages") as batch:
        batch.drop_column("content_hash")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("content_hash")
