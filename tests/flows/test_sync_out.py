"""Out: platform sessions become Outlook items the platform owns (on EWS and on Graph)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from connectors.platform import db
from connectors.platform.models import EventSession
from flows.sync import sync_provider
from tests.flows.conftest import World, tomorrow


def test_out_creates_one_item_per_session_with_venue_and_links(world: World) -> None:
    ann = world.trainer("ann", "out")
    world.event("First Aid", [tomorrow(9), tomorrow(9, days=2)], [ann])
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    items = world.items(ann)
    assert [i["start"] for i in items] == [tomorrow(9), tomorrow(9, days=2)]
    item = items[0]
    assert item["subject"] == "First Aid — Leeds Centre"
    assert "Leeds Centre" in item["location"]
    assert "https://lms.acme.test/events/EV1/trainers" in item["body"]
    assert "https://lms.acme.test/events/EV1/delegates" in item["body"]


def test_second_run_changes_nothing_and_costs_one_request_per_trainer(world: World) -> None:
    ann = world.trainer("ann", "out")
    bob = world.trainer("bob", "in")
    cat = world.trainer("cat", "both")
    world.event("First Aid", [tomorrow(9)], [ann, cat])
    world.add_appointment(bob, "Dentist", tomorrow(14), tomorrow(15))
    world.add_appointment(cat, "Gym", tomorrow(18), tomorrow(19))
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    before = {m: world.items(m) for m in (ann, bob, cat)}
    world.side.reset_counters()
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    assert "+0 ~0 -0" in state.message
    assert world.side.requests() <= 3
    assert {m: world.items(m) for m in (ann, bob, cat)} == before


def test_deleted_item_is_recreated_and_edit_overridden(world: World) -> None:
    ann = world.trainer("ann", "out")
    world.event("First Aid", [tomorrow(9), tomorrow(9, days=2)], [ann])
    sync_provider(provider="Acme", return_state=True)
    first, second = world.items(ann)
    world.side.delete(ann, first["id"])
    world.side.edit(
        ann, second["id"], subject="Moved to the pub", start=second["start"] + timedelta(hours=1)
    )
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    items = world.items(ann)
    assert [i["subject"] for i in items] == ["First Aid — Leeds Centre"] * 2
    assert [i["start"] for i in items] == [tomorrow(9), tomorrow(9, days=2)]


@pytest.mark.parametrize("days", [400, -30], ids=["13-months-ahead", "last-month"])
def test_a_session_rescheduled_outside_the_window_takes_its_item_along(
    world: World, days: int
) -> None:
    ann = world.trainer("ann", "out")
    (session_id,) = world.event("First Aid", [tomorrow(9, days=7)], [ann])
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    ((item_id, _),) = [(i["id"], i) for i in world.items(ann)]

    moved = tomorrow(9, days=days)
    with db.transaction(world.url) as s:
        s.execute(
            update(EventSession)
            .where(EventSession.id == session_id)
            .values(start=moved, end=moved + timedelta(hours=3))
        )
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    (record,) = world.records()
    assert (record["exchange_updated"], record["exchange_deleted"]) == (1, 0)
    (item,) = world.items(ann)
    assert item["id"] == item_id and item["start"] == moved  # the same item, at the new time

    world.side.reset_counters()
    assert "~0" in sync_provider(provider="Acme", return_state=True).message
    assert len(world.items(ann)) == 1


def test_a_one_day_leave_in_summer_time_is_one_day_in_outlook(world: World) -> None:
    from datetime import UTC, date, datetime
    from zoneinfo import ZoneInfo

    from connectors.platform import configuration
    from connectors.platform.calendar import add_all_day_unavailability

    ann = world.trainer("ann", "out")
    today = datetime.now(UTC).date()
    summer = date(today.year + (today.month > 6), 7, 5)  # British Summer Time, in the window
    with db.transaction(world.url) as s:
        trainer = configuration.find_trainer(s, ann)
        add_all_day_unavailability(s, trainer, summer, summer + timedelta(days=1), "Leave")
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    (item,) = world.items(ann)
    assert item["end"] - item["start"] == timedelta(days=1)  # one day, not two
    # EWS hands the day back as London midnights in UTC; Graph as its date's midnights.
    london = ZoneInfo("Europe/London")
    assert summer in (item["start"].astimezone(london).date(), item["start"].date())
