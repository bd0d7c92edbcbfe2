"""Microsoft Graph services: allow backend 'graph'.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync_rules.errors import ConfigurationError

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_services_backend"), type_="check")
        batch_op.create_check_constraint("backend", "backend IN ('ews', 'graph')")


def downgrade() -> None:
    _refuse_graph_services()
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_services_backend"), type_="check")
        batch_op.create_check_constraint("backend", "backend IN ('ews')")


def _refuse_graph_services() -> None:
    """Revision 0002 knows only EWS services: a Graph service would break its check (and be
    lost), so the downgrade is refused while one exists."""
    names = op.get_bind().execute(
        sa.text("SELECT name FROM services WHERE backend = 'graph' ORDER BY name")
    )
    graph_services: list[str] = list(names.scalars().all())
    if graph_services:
        raise ConfigurationError(
            "Revision 0002 has no Microsoft Graph services, and these use the graph backend: "
            f"{', '.join(graph_services)}; nothing was changed.",
            "Stay at revision 0003 or later, or remove those services (and unlink their "
            "trainers) first.",
        )
