"""Time passes and the window moves; platform edits land while a run is going (EWS and Graph).

The runs' clock is the world's (`World.clock`): moving it on moves the sync window, as days
passing would.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from connectors.exchange import connect
from connectors.platform import db
from connectors.platform.models import Unavailability, Venue
from flows.sync import sync_provider
from tasks.resources import Resources, using
from tests.flows.conftest import World, tomorrow

YEAR = timedelta(days=365)  # the default window's reach ahead


def _mirrors(world: World) -> int:
    with db.transaction(world.url) as s:
        query = select(func.count()).select_from(Unavailability)
        return int(s.scalar(query.where(Unavailability.origin == "exchange")) or 0)


def test_an_own_item_that_enters_the_window_by_time_alone_is_mirrored(world: World) -> None:
    ben = world.trainer("ben", "in")
    soon_beyond = world.clock() + YEAR + timedelta(seconds=40)
    world.add_appointment(ben, "Conference", soon_beyond, soon_beyond + timedelta(hours=8))
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert _mirrors(world) == 0  # not in the window yet
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert world.records()[0]["status"] == "idle"  # nothing moved: one request

    world.clock.advance(timedelta(minutes=2))  # the window's end passes the item's start
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert world.records()[0]["platform_created"] == 1
    assert _mirrors(world) == 1


def test_a_platform_entry_that_enters_the_window_by_time_alone_is_pushed(world: World) -> None:
    ann = world.trainer("ann", "out")
    beyond = world.clock() + YEAR + timedelta(hours=1)
    world.event("First Aid", [beyond], [ann])
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert world.items(ann) == []
    world.clock.advance(timedelta(hours=2))
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert len(world.items(ann)) == 1


def test_every_trainer_is_read_again_within_the_read_ahead(world: World) -> None:
    from sync_rules.gate import READ_AHEAD

    ann = world.trainer("ann", "out")
    world.event("First Aid", [tomorrow(9)], [ann])
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert world.records()[0]["status"] == "idle"
    world.clock.advance(READ_AHEAD + timedelta(minutes=1))
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert world.records()[0]["status"] == "synced"  # read, found in step, nothing written


class _EditWhileReading:
    """The service's real connector; once, when a mailbox is read, `edit` runs first: the
    platform changes while the run is going (after its platform extraction)."""

    def __init__(self, connector: Any, edit: Callable[[], None]) -> None:
        self._connector, self._edit = connector, edit

    def read_window(self, *args: Any, **kwargs: Any) -> Any:
        edit, self._edit = self._edit, lambda: None
        edit()
        return self._connector.read_window(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connector, name)


def test_a_platform_edit_made_during_a_run_that_writes_mirrors_is_not_lost(
    world: World,
) -> None:
    cat = world.trainer("cat", "both")
    world.event("First Aid", [tomorrow(9)], [cat])
    world.add_appointment(cat, "Gym", tomorrow(18), tomorrow(19))
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    (course,) = world.items(cat)[:1]
    assert "Leeds Centre" in course["subject"]

    world.add_appointment(cat, "Dentist", tomorrow(14), tomorrow(15))  # this run writes a mirror

    def rename_venue() -> None:
        with db.transaction(world.url) as s:
            s.execute(update(Venue).values(name="Bristol Centre"))

    resources = Resources(
        world.url,
        world.resources.secrets,
        connector_factory=lambda config, **kw: _EditWhileReading(
            connect(config, **kw), rename_venue
        ),
        observer=world.recorder,
        clock=world.clock,
    )
    with resources, using(resources):
        assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert world.records()[0]["platform_created"] == 1
    assert any("Leeds Centre" in i["subject"] for i in world.items(cat))  # as it was read

    # The next cycle sees the edit the run did not plan for, and pushes it.
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    (record,) = world.records()
    assert record["status"] == "synced" and record["exchange_updated"] == 1
    subjects = [i["subject"] for i in world.items(cat)]
    assert any("Bristol Centre" in s for s in subjects)
    assert not any("Leeds Centre" in s for s in subjects)


def test_an_own_item_moved_back_into_the_window_takes_its_old_mirror_along(world: World) -> None:
    """Its mirror was left behind, before the window, when time passed: the mirror follows the
    item in again (one mirror per item), rather than a second mirror being made beside it."""
    ben = world.trainer("ben", "in")
    window_start = world.clock() - timedelta(days=7)
    early = window_start + timedelta(minutes=30)
    item = world.add_appointment(ben, "Course", early, early + timedelta(minutes=30))
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert _mirrors(world) == 1

    world.clock.advance(timedelta(hours=2))  # item and mirror now lie before the window
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    world.side.edit(ben, item, start=tomorrow(9), end=tomorrow(10))
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    (record,) = world.records()
    assert (record["status"], record["platform_created"], record["platform_updated"]) == (
        "synced",
        0,
        1,
    )
    with db.transaction(world.url) as s:
        mirrors = s.execute(
            select(Unavailability.start, Unavailability.end).where(
                Unavailability.origin == "exchange"
            )
        ).all()
    assert [(m.start, m.end) for m in mirrors] == [(tomorrow(9), tomorrow(10))]
