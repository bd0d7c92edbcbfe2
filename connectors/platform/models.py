"""SQLAlchemy models of the platform store: configuration, the platform calendar, sync state.

The schema itself is owned by the Alembic migrations in `migrations/`; these models must
match them (a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from connectors.exchange.config import (
    ACCESS_TYPES,
    AUTH_TYPES,
    BACKENDS,
    DEFAULT_MAX_CONNECTIONS,
)
from connectors.platform.types import UTCDateTime
from sync_rules.vocabulary import DIRECTIONS, ORIGINS, SHOW_AS

EVENT_STATUSES = ("scheduled", "cancelled")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


MAX_ROW_ID = 2**63 - 1  # the largest id or count a BIGINT or SQLite INTEGER holds


def utcnow() -> datetime:
    return datetime.now(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# --- configuration -----------------------------------------------------------------------


class Provider(Base):
    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    sync_engine_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    rules: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    services: Mapped[list[Service]] = relationship(back_populates="provider")
    trainers: Mapped[list[Trainer]] = relationship(back_populates="provider")


class Service(Base):
    """A master account: one Exchange connection of a provider."""

    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint(_in("access_type", ACCESS_TYPES), name="access_type"),
        CheckConstraint(_in("auth_type", AUTH_TYPES), name="auth_type"),
        CheckConstraint(_in("backend", BACKENDS), name="backend"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    backend: Mapped[str] = mapped_column(String(16), default="ews")
    endpoint: Mapped[str] = mapped_column(String(500))
    username: Mapped[str] = mapped_column(String(320))
    auth_type: Mapped[str] = mapped_column(String(16), default="basic")
    access_type: Mapped[str] = mapped_column(String(16), default="delegate")
    secret_ref: Mapped[str] = mapped_column(String(300))
    tenant_id: Mapped[str | None] = mapped_column(String(100), default=None)
    client_id: Mapped[str | None] = mapped_column(String(100), default=None)
    authority_host: Mapped[str | None] = mapped_column(String(300), default=None)
    server_version: Mapped[str | None] = mapped_column(String(32), default=None)
    verify_tls: Mapped[bool] = mapped_column(Boolean, default=True)
    ca_bundle: Mapped[str | None] = mapped_column(String(500), default=None)
    max_connections: Mapped[int] = mapped_column(Integer, default=DEFAULT_MAX_CONNECTIONS)
    last_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_verification_ok: Mapped[bool | None] = mapped_column(Boolean, default=None)
    last_verification_message: Mapped[str | None] = mapped_column(Text, default=None)
    #: When the secret stops working (a Graph client secret's end date), as its admin set it:
    #: Exchange does not tell an application when its own secret expires.
    secret_expires_on: Mapped[date | None] = mapped_column(Date, default=None)

    provider: Mapped[Provider] = relationship(back_populates="services")


class Trainer(Base):
    __tablename__ = "trainers"
    __table_args__ = (UniqueConstraint("provider_id", "email", name="uq_trainers_provider_email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), index=True)

    provider: Mapped[Provider] = relationship(back_populates="trainers")
    link: Mapped[TrainerLink | None] = relationship(
        back_populates="trainer", uselist=False, cascade="all, delete-orphan"
    )


class TrainerLink(Base):
    """A trainer's Exchange options: which service, on/off, direction, mailbox."""

    __tablename__ = "trainer_links"
    __table_args__ = (CheckConstraint(_in("direction", DIRECTIONS), name="direction"),)

    trainer_id: Mapped[int] = mapped_column(
        ForeignKey("trainers.id", ondelete="CASCADE"), primary_key=True
    )
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    calendar_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    direction: Mapped[str] = mapped_column(String(8))
    mailbox: Mapped[str] = mapped_column(String(320))

    trainer: Mapped[Trainer] = relationship(back_populates="link")
    service: Mapped[Service] = relationship()


# Provider and service names are unique whatever their case: `Acme` is `acme` (migration 0006).
Index("uq_providers_name_lower", func.lower(Provider.name), unique=True)
Index("uq_services_name_lower", func.lower(Service.name), unique=True)


# --- the platform calendar -----------------------------------------------------------------


class Course(Base):
    __tablename__ = "courses"
    __table_args__ = (UniqueConstraint("provider_id", "name", name="uq_courses_provider_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(300))


class Venue(Base):
    __tablename__ = "venues"
    __table_args__ = (UniqueConstraint("provider_id", "name", name="uq_venues_provider_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(300))
    address: Mapped[str | None] = mapped_column(Text, default=None)


class TrainingEvent(Base):
    __tablename__ = "training_events"
    __table_args__ = (
        UniqueConstraint("provider_id", "ref", name="uq_training_events_provider_ref"),
        CheckConstraint(_in("status", EVENT_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    ref: Mapped[str] = mapped_column(String(100))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    venue_id: Mapped[int | None] = mapped_column(ForeignKey("venues.id"), default=None)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    event_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    delegate_instructions_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    trainer_instructions_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    course: Mapped[Course] = relationship()
    venue: Mapped[Venue | None] = relationship()
    sessions: Mapped[list[EventSession]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="EventSession.start"
    )
    assignments: Mapped[list[EventTrainer]] = relationship(
        back_populates="event", cascade="all, delete-orphan"
    )


class EventSession(Base):
    """One sitting of a training event; each becomes one Outlook item per assigned trainer."""

    __tablename__ = "event_sessions"
    __table_args__ = (
        CheckConstraint('"end" > start', name="ends_after_start"),
        Index("ix_event_sessions_window", "start", "end"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("training_events.id", ondelete="CASCADE"), index=True
    )
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)

    event: Mapped[TrainingEvent] = relationship(back_populates="sessions")


class EventTrainer(Base):
    """A trainer's assignment to a training event (and so to all its sessions)."""

    __tablename__ = "event_trainers"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("training_events.id", ondelete="CASCADE"), primary_key=True
    )
    trainer_id: Mapped[int] = mapped_column(
        ForeignKey("trainers.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    event: Mapped[TrainingEvent] = relationship(back_populates="assignments")
    trainer: Mapped[Trainer] = relationship()


class Unavailability(Base):
    __tablename__ = "unavailability"
    __table_args__ = (
        CheckConstraint('"end" > start', name="ends_after_start"),
        CheckConstraint(_in("origin", ORIGINS), name="origin"),
        CheckConstraint(
            "(origin = 'exchange') = (source_item_id IS NOT NULL)", name="source_item_for_exchange"
        ),
        UniqueConstraint("trainer_id", "source_item_id", name="uq_unavailability_source_item"),
        Index("ix_unavailability_trainer_window", "trainer_id", "start", "end"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trainer_id: Mapped[int] = mapped_column(ForeignKey("trainers.id", ondelete="CASCADE"))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(String(300), default=None)
    origin: Mapped[str] = mapped_column(String(16), default="platform")
    source_item_id: Mapped[str | None] = mapped_column(String(512), default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# --- sync state ----------------------------------------------------------------------------


class ItemLink(Base):
    """What the engine last wrote to Exchange for one platform entry of one trainer."""

    __tablename__ = "item_links"
    __table_args__ = (
        UniqueConstraint("trainer_id", "entry_key", name="uq_item_links_trainer_entry"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trainer_id: Mapped[int] = mapped_column(ForeignKey("trainers.id", ondelete="CASCADE"))
    entry_key: Mapped[str] = mapped_column(String(100))
    item_id: Mapped[str] = mapped_column(String(512))
    change_key: Mapped[str | None] = mapped_column(String(512), default=None)
    content_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TrainerCursor(Base):
    """Per-trainer change-gate state: the mailbox sync state and the platform fingerprint."""

    __tablename__ = "trainer_cursors"

    trainer_id: Mapped[int] = mapped_column(
        ForeignKey("trainers.id", ondelete="CASCADE"), primary_key=True
    )
    exchange_sync_state: Mapped[str | None] = mapped_column(Text, default=None)
    platform_fingerprint: Mapped[str | None] = mapped_column(String(64), default=None)
    # The mailbox's last read holds everything that can enter the moving window until then.
    read_valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The last permission check, so it need not cost requests every cycle.
    access_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    access_direction: Mapped[str | None] = mapped_column(String(8), default=None)
    access_ok: Mapped[bool | None] = mapped_column(Boolean, default=None)
    access_message: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TrainerHealth(Base):
    """A trainer's health across runs (see sync_rules/health.py): kept apart from the
    change-gate cursors, which a move to another mailbox forgets."""

    __tablename__ = "trainer_health"

    trainer_id: Mapped[int] = mapped_column(
        ForeignKey("trainers.id", ondelete="CASCADE"), primary_key=True
    )
    last_status: Mapped[str] = mapped_column(String(32))
    last_run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    failures_in_a_row: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    last_flow_run_id: Mapped[str | None] = mapped_column(String(64), default=None)


class TrainerClash(Base):
    """A session assigned to a trainer on time their own Outlook calendar shows as taken
    (sync_rules/clashes.py), from the run that first saw it. The times and free/busy status
    of the trainer's item only, never its text. Resolved, not deleted, by the first run that
    reads the trainer and no longer finds it, so when it went away stays known."""

    __tablename__ = "trainer_clashes"
    __table_args__ = (
        UniqueConstraint(
            "trainer_id", "entry_key", "item_id", name="uq_trainer_clashes_trainer_entry_item"
        ),
        CheckConstraint(_in("show_as", SHOW_AS), name="show_as"),
        CheckConstraint("session_end >= session_start", name="session_ends_after_start"),
        CheckConstraint("busy_end >= busy_start", name="busy_ends_after_start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trainer_id: Mapped[int] = mapped_column(ForeignKey("trainers.id", ondelete="CASCADE"))
    entry_key: Mapped[str] = mapped_column(String(100))
    item_id: Mapped[str] = mapped_column(String(512))
    course: Mapped[str | None] = mapped_column(String(300), default=None)
    session_start: Mapped[datetime] = mapped_column(UTCDateTime)
    session_end: Mapped[datetime] = mapped_column(UTCDateTime)
    busy_start: Mapped[datetime] = mapped_column(UTCDateTime)
    busy_end: Mapped[datetime] = mapped_column(UTCDateTime)
    busy_all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    show_as: Mapped[str] = mapped_column(String(16))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class SyncLock(Base):
    """Who is syncing a provider right now: schedules and manual runs never double-write.

    A lease: the holding run renews `expires_at` while it runs; a crashed run's lock lapses.
    """

    __tablename__ = "sync_locks"

    provider_id: Mapped[int] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True
    )
    holder: Mapped[str] = mapped_column(String(100))  # the Prefect flow run id (or local-…)
    host: Mapped[str | None] = mapped_column(String(255), default=None)
    pid: Mapped[int | None] = mapped_column(Integer, default=None)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    renewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SyncRun(Base):
    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_trainer_started", "trainer_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flow_run_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    trainer_id: Mapped[int | None] = mapped_column(
        ForeignKey("trainers.id", ondelete="CASCADE"), default=None
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    status: Mapped[str] = mapped_column(String(32))
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class SyncChange(Base):
    __tablename__ = "sync_changes"
    __table_args__ = (Index("ix_sync_changes_trainer_created", "trainer_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"), index=True)
    trainer_id: Mapped[int] = mapped_column(ForeignKey("trainers.id", ondelete="CASCADE"))
    side: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64))
    entry_key: Mapped[str | None] = mapped_column(String(100), default=None)
    item_id: Mapped[str | None] = mapped_column(String(512), default=None)
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str] = mapped_column(String(16), default="applied")
    summary: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The `;`-joined fields an update wrote back (for an edit in Outlook: what the trainer
    #: changed), and who last saved the item and when as Exchange tells it (migration 0010).
    changed_fields: Mapped[str | None] = mapped_column(String(200), default=None)
    modified_by: Mapped[str | None] = mapped_column(String(320), default=None)
    modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
