"""Graph-only behaviour: delta-token expiry, and a provider moved from EWS to Graph."""

from __future__ import annotations

from sqlalchemy import select, update

from connectors.platform import db
from connectors.platform.models import ItemLink, TrainerCursor
from flows.sync import sync_provider
from tests.flows.conftest import World, tomorrow
from tests.flows.test_sync_in import blocks


def test_expired_delta_token_falls_back_to_a_full_read(graph_world: World) -> None:
    world = graph_world
    ben = world.trainer("ben", "in")
    world.add_appointment(ben, "Dentist", tomorrow(14), tomorrow(15))
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    world.add_appointment(ben, "Physio", tomorrow(16), tomorrow(17))
    world.side.control.expire_delta(ben)
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    assert [b["start"] for b in blocks(world, ben)] == [tomorrow(14), tomorrow(16)]


def test_items_made_through_ews_are_recognised_through_graph(graph_world: World) -> None:
    """After a mailbox moves to Exchange Online, the links hold EWS ids that Graph never
    shows; the tag (same property set and name on both APIs) still identifies each item."""
    world = graph_world
    ann = world.trainer("ann", "out")
    world.event("First Aid", [tomorrow(9), tomorrow(9, days=2)], [ann])
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    with db.transaction(world.url) as s:
        s.execute(update(ItemLink).values(item_id="AAMkAD-ews-id", change_key="CQAAAB-ews"))
        s.execute(update(TrainerCursor).values(exchange_sync_state="H4sIAAAAAAAEAO29B2AcSZ-ews"))
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    (record,) = world.records()
    assert record["exchange_created"] == 0 and record["exchange_deleted"] == 0
    items = world.items(ann)
    assert [i["subject"] for i in items] == ["First Aid — Leeds Centre"] * 2
    # The links now hold the Graph ids, so the next cycle is idle again.
    with db.transaction(world.url) as s:
        linked = sorted(s.scalars(select(ItemLink.item_id)))
    assert linked == sorted(i["id"] for i in items)
    world.side.reset_counters()
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert world.side.requests() <= 1
