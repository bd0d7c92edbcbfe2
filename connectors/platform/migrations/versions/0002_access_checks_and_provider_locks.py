"""access checks and provider locks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 07:50:59.278038
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connectors.platform.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "sync_locks",
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column(
            "acquired_at", connectors.platform.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", connectors.platform.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_sync_locks_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("provider_id", name=op.f("pk_sync_locks")),
    )
    with op.batch_alter_table("trainer_cursors", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "access_checked_at",
                connectors.platform.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("access_direction", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("access_ok", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("access_message", sa.Text(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("trainer_cursors", schema=None) as batch_op:
        batch_op.drop_column("access_message")
        batch_op.drop_column("access_ok")
        batch_op.drop_column("access_direction")
        batch_op.drop_column("access_checked_at")

    op.drop_table("sync_locks")
