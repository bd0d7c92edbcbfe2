"""Provider and service names are unique whatever their case: `Acme` and `acme` are one name.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TABLES = ("providers", "services")
_HOW_TO_SETTLE = {
    "providers": "rename all but one of each with `trainer-sync provider rename`",
    "services": "move the trainers of all but one of each to it with `trainer-sync trainer "
    "link`, and remove the others with `trainer-sync service remove`",
}


def upgrade() -> None:
    connection = op.get_bind()
    for table in _TABLES:
        # Say which names clash rather than fail on the index with the database's message.
        clashes = connection.execute(
            sa.text(f"SELECT lower(name) FROM {table} GROUP BY lower(name) HAVING count(*) > 1")
        )
        names: list[str] = sorted(str(row[0]) for row in clashes)
        if names:
            raise RuntimeError(
                f"{table} has names that differ only in case: {', '.join(names)}; "
                f"{_HOW_TO_SETTLE[table]}, then upgrade again."
            )
        op.create_index(f"uq_{table}_name_lower", table, [sa.text("lower(name)")], unique=True)


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_index(f"uq_{table}_name_lower", table_name=table)
