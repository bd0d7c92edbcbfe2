"""Out: platform sessions become Outlook items the platform owns."""

from __future__ import annotations

from datetime import timedelta

from flows.sync import sync_provider
from tests.flows.conftest import World, tomorrow


def test_out_creates_one_item_per_session_with_venue_and_links(world: World) -> None:
    ann = world.trainer("ann", "out")
    world.event("First Aid", [tomorrow(9), tomorrow(9, days=2)], [ann])
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    items = world.items(ann)
    assert len(items) == 2
    item = items[0]
    assert item["subject"] == "First Aid — Leeds Centre"
    assert "Leeds Centre" in item["location"]
    assert "https://lms.acme.test/events/EV1/trainers" in item["body"]
    assert "https://lms.acme.test/events/EV1/delegates" in item["body"]


def test_second_run_changes_nothing_and_costs_one_request_per_trainer(world: World) -> None:
    ann = world.trainer("ann", "out")
    bob = world.trainer("bob", "in")
    world.event("First Aid", [tomorrow(9)], [ann])
    world.add_appointment(bob, "Dentist", tomorrow(14), tomorrow(15))
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    before = {m: len(world.items(m)) for m in (ann, bob)}
    world.ews.control.reset_counters()
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    assert "+0 ~0 -0" in state.message
    counters = world.ews.control.counters()
    assert counters["total"] <= 2, counters
    assert {m: len(world.items(m)) for m in (ann, bob)} == before


def test_deleted_item_is_recreated_and_edit_overridden(world: World) -> None:
    ann = world.trainer("ann", "out")
    world.event("First Aid", [tomorrow(9), tomorrow(9, days=2)], [ann])
    sync_provider(provider="Acme", return_state=True)
    outlook = world.outlook(ann)
    first, second = sorted(outlook.calendar.all(), key=lambda i: i.start)
    first.delete()
    second.subject = "Moved to the pub"
    second.start = second.start + timedelta(hours=1)
    second.save()
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    items = sorted(world.items(ann), key=lambda i: i["start"])
    assert [i["subject"] for i in items] == ["First Aid — Leeds Centre"] * 2
