"""Clashes: sessions assigned on time a trainer's own Outlook calendar shows as taken.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connectors.platform.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The show-as values as this revision knows them (the vocabulary may grow in later ones).
_SHOW_AS = "'Free', 'Tentative', 'Busy', 'OOF', 'WorkingElsewhere', 'NoData'"


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, connectors.platform.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "trainer_clashes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trainer_id", sa.Integer(), nullable=False),
        sa.Column("entry_key", sa.String(length=100), nullable=False),
        sa.Column("item_id", sa.String(length=512), nullable=False),
        sa.Column("course", sa.String(length=300), nullable=True),
        _time("session_start"),
        _time("session_end"),
        _time("busy_start"),
        _time("busy_end"),
        sa.Column("busy_all_day", sa.Boolean(), nullable=False),
        sa.Column("show_as", sa.String(length=16), nullable=False),
        _time("first_seen_at"),
        _time("last_seen_at"),
        _time("resolved_at", nullable=True),
        sa.CheckConstraint(f"show_as IN ({_SHOW_AS})", name=op.f("ck_trainer_clashes_show_as")),
        sa.CheckConstraint(
            "session_end >= session_start",
            name=op.f("ck_trainer_clashes_session_ends_after_start"),
        ),
        sa.CheckConstraint(
            "busy_end >= busy_start", name=op.f("ck_trainer_clashes_busy_ends_after_start")
        ),
        sa.ForeignKeyConstraint(
            ["trainer_id"],
            ["trainers.id"],
            name=op.f("fk_trainer_clashes_trainer_id_trainers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trainer_clashes")),
        sa.UniqueConstraint(
            "trainer_id",
            "entry_key",
            "item_id",
            name="uq_trainer_clashes_trainer_entry_item",
        ),
    )


def downgrade() -> None:
    op.drop_table("trainer_clashes")
