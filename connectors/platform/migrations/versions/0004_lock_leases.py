"""Provider locks as renewed leases: who holds one (host and process) and when it was renewed.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connectors.platform.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_locks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "renewed_at", connectors.platform.types.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_locks", schema=None) as batch_op:
        batch_op.drop_column("renewed_at")
        batch_op.drop_column("pid")
        batch_op.drop_column("host")
