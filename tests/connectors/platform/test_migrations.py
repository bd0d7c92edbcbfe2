"""The schema comes from migrations, goes up and down cleanly, and matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from connectors.platform import db
from connectors.platform.models import Base

TABLES = {
    "providers",
    "services",
    "trainers",
    "trainer_links",
    "courses",
    "venues",
    "training_events",
    "event_sessions",
    "event_trainers",
    "unavailability",
    "item_links",
    "trainer_cursors",
    "trainer_health",
    "trainer_clashes",
    "sync_runs",
    "sync_changes",
    "sync_locks",
}


def _tables(url: str) -> set[str]:
    return set(inspect(db.get_engine(url)).get_table_names()) - {"alembic_version"}


def test_upgrade_creates_every_table_and_downgrade_removes_them(empty_db_url: str) -> None:
    db.upgrade(empty_db_url)
    assert _tables(empty_db_url) == TABLES
    assert db.current_revision(empty_db_url) is not None

    db.downgrade(empty_db_url, "base")
    assert _tables(empty_db_url) == set()
    assert db.current_revision(empty_db_url) is None

    db.upgrade(empty_db_url)
    assert _tables(empty_db_url) == TABLES


def test_models_match_the_migrated_schema(db_url: str) -> None:
    with db.get_engine(db_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_extraction_reads_are_indexed(db_url: str) -> None:
    inspector = inspect(db.get_engine(db_url))
    indexed = {
        table: {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
        for table in ("event_sessions", "event_trainers", "unavailability")
    }
    assert ("start", "end") in indexed["event_sessions"]
    assert ("event_id",) in indexed["event_sessions"]
    assert ("trainer_id",) in indexed["event_trainers"]
    assert ("trainer_id", "start", "end") in indexed["unavailability"]
