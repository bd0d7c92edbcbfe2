"""Every migration goes down and back up on a store that holds data, on SQLite and PostgreSQL.

Before the fix, SQLite's batch rebuild of `services` (revision 0003) failed on the foreign key
of `trainer_links` as soon as a trainer was linked, so no downgrade past 0003 ever worked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from connectors.exchange.config import ServiceConfig
from connectors.platform import configuration, db
from connectors.platform.models import (
    Base,
    Course,
    EventSession,
    EventTrainer,
    ItemLink,
    SyncChange,
    SyncLock,
    SyncRun,
    TrainerClash,
    TrainerCursor,
    TrainerHealth,
    TrainingEvent,
    Unavailability,
    Venue,
)
from sync_rules.errors import ConfigurationError

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
#: Tables whose rows every revision from 0001 on keeps: all of them but the provider locks,
#: which 0002 added, the trainers' health, which 0007 added, and their clashes, which 0009
#: added (going below one forgets what it holds).
ADDED_LATER = {"sync_locks", "trainer_health", "trainer_clashes"}
KEPT = tuple(sorted(set(Base.metadata.tables) - ADDED_LATER))


def _revisions_newest_first(url: str) -> list[str]:
    scripts = ScriptDirectory.from_config(db.alembic_config(url))
    return [script.revision for script in scripts.walk_revisions()]


def _fill(url: str) -> None:
    """A provider, its EWS service, a linked trainer with an event, unavailability, an
    Outlook item link, cursors, health, a clash, history and a held lock."""
    ews = ServiceConfig(
        name="acme-ews",
        endpoint="https://mail.acme.test/EWS/Exchange.asmx",
        username="master@acme.test",
        secret_ref="env:ACME_EWS_PASSWORD",
    )
    with db.transaction(url) as s:
        acme = configuration.add_provider(s, "Acme", True)
        service = configuration.add_service(s, "Acme", ews)
        ann = configuration.add_trainer(s, acme, "Ann", "ann@acme.test")
        configuration.link_trainer(s, service, ann, "both")
        course, venue = (
            Course(provider_id=acme.id, name="First Aid"),
            Venue(provider_id=acme.id, name="Leeds"),
        )
        s.add_all([course, venue])
        s.flush()
        event = TrainingEvent(provider_id=acme.id, ref="E1", course_id=course.id, venue_id=venue.id)
        s.add(event)
        s.flush()
        s.add_all(
            [
                EventSession(event_id=event.id, start=T0, end=T0 + timedelta(hours=3)),
                EventTrainer(event_id=event.id, trainer_id=ann.id),
                Unavailability(trainer_id=ann.id, start=T0, end=T0 + timedelta(days=1)),
                ItemLink(trainer_id=ann.id, entry_key="session:1", item_id="I1", content_hash="h"),
                TrainerCursor(trainer_id=ann.id, exchange_sync_state="cursor", access_ok=True),
                TrainerHealth(trainer_id=ann.id, last_status="failed", last_run_at=T0),
                TrainerClash(
                    trainer_id=ann.id,
                    entry_key="session:1",
                    item_id="OWN-1",
                    course="First Aid",
                    session_start=T0,
                    session_end=T0 + timedelta(hours=3),
                    busy_start=T0 + timedelta(hours=1),
                    busy_end=T0 + timedelta(hours=2),
                    show_as="Busy",
                    first_seen_at=T0,
                    last_seen_at=T0,
                ),
                SyncLock(provider_id=acme.id, holder="run-1", expires_at=T0),
            ]
        )
        run = SyncRun(provider_id=acme.id, trainer_id=ann.id, status="synced")
        s.add(run)
        s.flush()
        s.add(
            SyncChange(
                run_id=run.id, trainer_id=ann.id, side="exchange", action="create", reason="new"
            )
        )
        s.add(
            SyncChange(
                run_id=run.id,
                trainer_id=ann.id,
                side="exchange",
                action="update",
                reason="tampered_in_exchange",
                changed_fields="start;end",
                modified_by="Ann Smith",
                modified_at=T0,
            )
        )


def _counts(url: str) -> dict[str, int]:
    with db.get_engine(url).connect() as connection:
        return {t: connection.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in KEPT}


def _tables(url: str) -> set[str]:
    return set(inspect(db.get_engine(url)).get_table_names())


def _assert_schema_matches_models(url: str) -> None:
    with db.get_engine(url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_every_step_down_and_up_keeps_the_data(db_url: str) -> None:
    _fill(db_url)
    before = _counts(db_url)
    assert all(before.values())
    newest_first = _revisions_newest_first(db_url)

    for target in newest_first[1:]:  # head-1 ... 0001, one step at a time
        db.downgrade(db_url, target)
        assert db.current_revision(db_url) == target
        assert _counts(db_url) == before, f"rows lost going down to {target}"
    assert "sync_locks" not in _tables(db_url)  # 0002 brought it
    assert not {t for t in _tables(db_url) if t.startswith("_alembic_tmp_")}

    for target in reversed(newest_first[:-1]):  # 0002 ... head
        db.upgrade(db_url, target)
        assert db.current_revision(db_url) == target
        assert _counts(db_url) == before, f"rows lost going up to {target}"
    _assert_schema_matches_models(db_url)
    with db.transaction(db_url) as s:  # the ORM reads the store as before
        ann = configuration.find_trainer(s, "ann@acme.test")
        assert ann.link is not None and ann.link.service.name == "acme-ews"


def test_base_and_back_to_head_with_data(db_url: str) -> None:
    _fill(db_url)
    db.downgrade(db_url, "base")
    assert db.current_revision(db_url) is None
    assert _tables(db_url) <= {"alembic_version"}
    db.upgrade(db_url, "head")
    _assert_schema_matches_models(db_url)


def test_downgrade_below_graph_is_refused_while_a_graph_service_exists(db_url: str) -> None:
    _fill(db_url)
    graph = ServiceConfig(
        name="acme-graph",
        endpoint="https://graph.microsoft.com/v1.0",
        username="master@acme.test",
        secret_ref="env:ACME_GRAPH_SECRET",
        backend="graph",
        auth_type="oauth2",
        access_type="impersonation",
        tenant_id="t",
        client_id="c",
    )
    with db.transaction(db_url) as s:
        configuration.add_service(s, "Acme", graph)
    head = db.current_revision(db_url)

    with pytest.raises(ConfigurationError, match="acme-graph"):
        db.downgrade(db_url, "0002")
    assert db.current_revision(db_url) == head  # nothing was changed
    assert _counts(db_url)["services"] == 2


def test_a_batch_table_left_behind_does_not_block_later_downgrades(
    migrated_store: object,
) -> None:
    url = migrated_store("leftover.db")  # type: ignore[operator]
    _fill(url)
    with db.transaction(url) as s:  # what a failed batch step of an older version left
        s.execute(text("CREATE TABLE _alembic_tmp_services (id INTEGER)"))
    db.downgrade(url, "0002")
    assert db.current_revision(url) == "0002"
    assert "_alembic_tmp_services" not in _tables(url)
    db.upgrade(url)
    _assert_schema_matches_models(url)


def test_the_modifier_columns_go_with_0010_and_keep_older_changes(db_url: str) -> None:
    _fill(db_url)
    db.downgrade(db_url, "0009")
    columns = {c["name"] for c in inspect(db.get_engine(db_url)).get_columns("sync_changes")}
    assert not columns & {"changed_fields", "modified_by", "modified_at"}
    assert _counts(db_url)["sync_changes"] == 2

    db.upgrade(db_url, "0010")
    with db.transaction(db_url) as s:  # what was recorded before 0010 knows no modifier
        known = {c.reason: (c.changed_fields, c.modified_by) for c in s.query(SyncChange)}
        assert known == {"new": (None, None), "tampered_in_exchange": (None, None)}
        edit = s.query(SyncChange).filter_by(reason="tampered_in_exchange").one()
        edit.modified_by, edit.modified_at = "Ann Smith", T0
    with db.transaction(db_url) as s:
        edit = s.query(SyncChange).filter_by(reason="tampered_in_exchange").one()
        assert (edit.modified_by, edit.modified_at) == ("Ann Smith", T0)
