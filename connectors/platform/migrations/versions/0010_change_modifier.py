"""Tamper report: which fields an edit in Outlook changed, and who saved it when.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connectors.platform.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ADDED = ("changed_fields", "modified_by", "modified_at")


def upgrade() -> None:
    # Plain ADD COLUMNs, as in 0008: older rows simply do not know these (NULL).
    op.add_column("sync_changes", sa.Column("changed_fields", sa.String(200), nullable=True))
    op.add_column("sync_changes", sa.Column("modified_by", sa.String(320), nullable=True))
    op.add_column(
        "sync_changes",
        sa.Column(
            "modified_at", connectors.platform.types.UTCDateTime(timezone=True), nullable=True
        ),
    )


def downgrade() -> None:
    # SQLite drops one column per statement, in place since 3.35.
    for name in reversed(_ADDED):
        op.execute(f"ALTER TABLE sync_changes DROP COLUMN {name}")
