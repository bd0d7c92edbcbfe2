"""Change gate and time: until when a trainer's last mailbox read stays complete.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connectors.platform.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trainer_cursors", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "read_valid_until",
                connectors.platform.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("trainer_cursors", schema=None) as batch_op:
        batch_op.drop_column("read_valid_until")
