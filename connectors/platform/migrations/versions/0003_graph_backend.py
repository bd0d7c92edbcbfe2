"""Microsoft Graph services: allow backend 'graph'.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_services_backend"), type_="check")
        batch_op.create_check_constraint("backend", "backend IN ('ews', 'graph')")


def downgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_services_backend"), type_="check")
        batch_op.create_check_constraint("backend", "backend IN ('ews')")
