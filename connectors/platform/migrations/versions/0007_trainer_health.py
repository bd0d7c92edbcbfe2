"""Per-trainer health across runs: last status, last success, failures in a row, last error.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connectors.platform.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trainer_health",
        sa.Column("trainer_id", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.String(length=32), nullable=False),
        sa.Column(
            "last_run_at", connectors.platform.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_success_at", connectors.platform.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("failures_in_a_row", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_flow_run_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["trainer_id"],
            ["trainers.id"],
            name=op.f("fk_trainer_health_trainer_id_trainers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trainer_id", name=op.f("pk_trainer_health")),
    )


def downgrade() -> None:
    op.drop_table("trainer_health")
