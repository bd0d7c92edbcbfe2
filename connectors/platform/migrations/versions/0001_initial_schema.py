"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 07:46:29.677395
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connectors.platform.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sync_engine_enabled", sa.Boolean(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=True),
        sa.Column(
            "created_at", connectors.platform.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
        sa.UniqueConstraint("name", name=op.f("uq_providers_name")),
    )
    op.create_table(
        "courses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_courses_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courses")),
        sa.UniqueConstraint("provider_id", "name", name="uq_courses_provider_name"),
    )
    op.create_table(
        "services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("backend", sa.String(length=16), nullable=False),
        sa.Column("endpoint", sa.String(length=500), nullable=False),
        sa.Column("username", sa.String(length=320), nullable=False),
        sa.Column("auth_type", sa.String(length=16), nullable=False),
        sa.Column("access_type", sa.String(length=16), nullable=False),
        sa.Column("secret_ref", sa.String(length=300), nullable=False),
        sa.Column("tenant_id", sa.String(length=100), nullable=True),
        sa.Column("client_id", sa.String(length=100), nullable=True),
        sa.Column("authority_host", sa.String(length=300), nullable=True),
        sa.Column("server_version", sa.String(length=32), nullable=True),
        sa.Column("verify_tls", sa.Boolean(), nullable=False),
        sa.Column("ca_bundle", sa.String(length=500), nullable=True),
        sa.Column("max_connections", sa.Integer(), nullable=False),
        sa.Column(
            "last_verified_at", connectors.platform.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_verification_ok", sa.Boolean(), nullable=True),
        sa.Column("last_verification_message", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "access_type IN ('delegate', 'impersonation')", name=op.f("ck_services_access_type")
        ),
        sa.CheckConstraint(
            "auth_type IN ('basic', 'ntlm', 'oauth2')", name=op.f("ck_services_auth_type")
        ),
        sa.CheckConstraint("backend IN ('ews')", name=op.f("ck_services_backend")),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_services_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("name", name=op.f("uq_services_name")),
    )
    op.create_table(
        "trainers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_trainers_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trainers")),
        sa.UniqueConstraint("provider_id", "email", name="uq_trainers_provider_email"),
    )
    with op.batch_alter_table("trainers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trainers_email"), ["email"], unique=False)

    op.create_table(
        "venues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_venues_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venues")),
        sa.UniqueConstraint("provider_id", "name", name="uq_venues_provider_name"),
    )
    op.create_table(
        "item_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trainer_id", sa.Integer(), nullable=False),
        sa.Column("entry_key", sa.String(length=100), nullable=False),
        sa.Column("item_id", sa.String(length=512), nullable=False),
        sa.Column("change_key", sa.String(length=512), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "updated_at", connectors.platform.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["trainer_id"],
            ["trainers.id"],
            name=op.f("fk_item_links_trainer_id_trainers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_links")),
        sa.UniqueConstraint("trainer_id", "entry_key", name="uq_item_links_trainer_entry"),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("trainer_id", sa.Integer(), nullable=True),
        sa.Column(
            "started_at", connectors.platform.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "finished_at", connectors.platform.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_sync_runs_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trainer_id"],
            ["trainers.id"],
            name=op.f("fk_sync_runs_trainer_id_trainers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_runs_flow_run_id"), ["flow_run_id"], unique=False)
        batch_op.create_index(
            "ix_sync_runs_trainer_started", ["trainer_id", "started_at"], unique=False
        )

    op.create_table(
        "trainer_cursors",
        sa.Column("trainer_id", sa.Integer(), nullable=False),
        sa.Column("exchange_sync_state", sa.Text(), nullable=True),
        sa.Column("platform_fingerprint", sa.String(length=64), nullable=True),
        sa.Column(
            "updated_at", connectors.platform.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["trainer_id"],
            ["trainers.id"],
            name=op.f("fk_trainer_cursors_trainer_id_trainers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trainer_id", name=op.f("pk_trainer_cursors")),
    )
    op.create_table(
        "trainer_links",
        sa.Column("trainer_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("calendar_enabled", sa.Boolean(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.CheckConstraint(
            "direction IN ('in', 'out', 'both')", name=op.f("ck_trainer_links_direction")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_trainer_links_service_id_services")
        ),
        sa.ForeignKeyConstraint(
            ["trainer_id"],
            ["trainers.id"],
            name=op.f("fk_trainer_links_trainer_id_trainers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trainer_id", name=op.f("pk_trainer_links")),
    )
    with op.batch_alter_table("trainer_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trainer_links_service_id"), ["service_id"], unique=False
        )

    op.create_table(
        "training_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=100), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("event_url", sa.String(length=1000), nullable=True),
        sa.Column("delegate_instructions_url", sa.String(length=1000), nullable=True),
        sa.Column("trainer_instructions_url", sa.String(length=1000), nullable=True),
        sa.Column(
            "updated_at", connectors.platform.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('scheduled', 'cancelled')", name=op.f("ck_training_events_status")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_training_events_course_id_courses")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_training_events_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venues.id"], name=op.f("fk_training_events_venue_id_venues")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_events")),
        sa.UniqueConstraint("provider_id", "ref", name="uq_training_events_provider_ref"),
    )
    op.create_table(
        "unavailability",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trainer_id", sa.Integer(), nullable=False),
        sa.Column("start", connectors.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end", connectors.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("source_item_id", sa.String(length=512), nullable=True),
        sa.Column(
            "updated_at", connectors.platform.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.CheckConstraint(
            "(origin = 'exchange') = (source_item_id IS NOT NULL)",
            name=op.f("ck_unavailability_source_item_for_exchange"),
        ),
        sa.CheckConstraint(
            "origin IN ('platform', 'exchange')", name=op.f("ck_unavailability_origin")
        ),
        sa.CheckConstraint('"end" > start', name=op.f("ck_unavailability_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["trainer_id"],
            ["trainers.id"],
            name=op.f("fk_unavailability_trainer_id_trainers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unavailability")),
        sa.UniqueConstraint("trainer_id", "source_item_id", name="uq_unavailability_source_item"),
    )
    with op.batch_alter_table("unavailability", schema=None) as batch_op:
        batch_op.create_index(
            "ix_unavailability_trainer_window", ["trainer_id", "start", "end"], unique=False
        )

    op.create_table(
        "event_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("start", connectors.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end", connectors.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint('"end" > start', name=op.f("ck_event_sessions_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["training_events.id"],
            name=op.f("fk_event_sessions_event_id_training_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_sessions")),
    )
    with op.batch_alter_table("event_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_sessions_event_id"), ["event_id"], unique=False)
        batch_op.create_index("ix_event_sessions_window", ["start", "end"], unique=False)

    op.create_table(
        "event_trainers",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("trainer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["training_events.id"],
            name=op.f("fk_event_trainers_event_id_training_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trainer_id"],
            ["trainers.id"],
            name=op.f("fk_event_trainers_trainer_id_trainers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", "trainer_id", name=op.f("pk_event_trainers")),
    )
    with op.batch_alter_table("event_trainers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_trainers_trainer_id"), ["trainer_id"], unique=False
        )

    op.create_table(
        "sync_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("trainer_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("entry_key", sa.String(length=100), nullable=True),
        sa.Column("item_id", sa.String(length=512), nullable=True),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column(
            "created_at", connectors.platform.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_runs.id"],
            name=op.f("fk_sync_changes_run_id_sync_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trainer_id"],
            ["trainers.id"],
            name=op.f("fk_sync_changes_trainer_id_trainers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_changes")),
    )
    with op.batch_alter_table("sync_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_changes_run_id"), ["run_id"], unique=False)
        batch_op.create_index(
            "ix_sync_changes_trainer_created", ["trainer_id", "created_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("sync_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_changes_trainer_created")
        batch_op.drop_index(batch_op.f("ix_sync_changes_run_id"))

    op.drop_table("sync_changes")
    with op.batch_alter_table("event_trainers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_trainers_trainer_id"))

    op.drop_table("event_trainers")
    with op.batch_alter_table("event_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_event_sessions_window")
        batch_op.drop_index(batch_op.f("ix_event_sessions_event_id"))

    op.drop_table("event_sessions")
    with op.batch_alter_table("unavailability", schema=None) as batch_op:
        batch_op.drop_index("ix_unavailability_trainer_window")

    op.drop_table("unavailability")
    op.drop_table("training_events")
    with op.batch_alter_table("trainer_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trainer_links_service_id"))

    op.drop_table("trainer_links")
    op.drop_table("trainer_cursors")
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_runs_trainer_started")
        batch_op.drop_index(batch_op.f("ix_sync_runs_flow_run_id"))

    op.drop_table("sync_runs")
    op.drop_table("item_links")
    op.drop_table("venues")
    with op.batch_alter_table("trainers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trainers_email"))

    op.drop_table("trainers")
    op.drop_table("services")
    op.drop_table("courses")
    op.drop_table("providers")
