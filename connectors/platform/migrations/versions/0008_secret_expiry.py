"""Alerts: the day a service's secret (e.g. a Graph client secret) expires, as its admin set it.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite has it): a batch copy of the table would lose its
    # case-insensitive name index (0006), an index on an expression.
    op.add_column("services", sa.Column("secret_expires_on", sa.Date(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column in place since 3.35; the expression index stays as it is.
    op.execute("ALTER TABLE services DROP COLUMN secret_expires_on")
