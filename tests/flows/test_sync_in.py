"""In: a trainer's own appointments block them as "Unavailable", without details."""

from __future__ import annotations

import pytest

from connectors.platform import db
from connectors.platform.calendar import trainer_calendar
from connectors.platform.configuration import find_trainer
from flows.sync import sync_provider
from tests.flows.conftest import World, tomorrow
from tests.flows.exchange_sides import Repeat


def blocks(world: World, email: str) -> list[dict]:
    with db.transaction(world.url) as s:
        trainer = find_trainer(s, email)
        rows = trainer_calendar(s, trainer, tomorrow(0, -30), tomorrow(0, 60))
    return [r for r in rows if r["origin"] == "exchange"]


def test_appointment_becomes_an_unavailable_block_without_details(world: World) -> None:
    ben = world.trainer("ben", "in")
    world.add_appointment(ben, "Therapy session", tomorrow(14), tomorrow(15))
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    (block,) = blocks(world, ben)
    assert (block["start"], block["end"]) == (tomorrow(14), tomorrow(15))
    assert block["kind"] == "unavailability" and block["reason"] is None
    with db.get_engine(world.url).connect() as c:
        dump = repr(c.exec_driver_sql("SELECT * FROM unavailability").all())
        dump += repr(c.exec_driver_sql("SELECT * FROM sync_changes").all())
    for detail in ("Therapy", "Private details", "Home"):
        assert detail not in dump and detail not in repr(block)


def test_moved_appointment_moves_the_block_and_deleted_one_removes_it(world: World) -> None:
    ben = world.trainer("ben", "in")
    item = world.add_appointment(ben, "Dentist", tomorrow(14), tomorrow(15))
    sync_provider(provider="Acme", return_state=True)
    world.side.edit(ben, item, start=tomorrow(16), end=tomorrow(17))
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert [(b["start"], b["end"]) for b in blocks(world, ben)] == [(tomorrow(16), tomorrow(17))]
    world.side.delete(ben, item)
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert blocks(world, ben) == []


def test_recurring_series_gives_one_block_per_occurrence_in_the_window(world: World) -> None:
    ben = world.trainer("ben", "in")
    world.add_appointment(ben, "Stand-up", tomorrow(8), tomorrow(9), Repeat("day", 5))
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    starts = [b["start"] for b in blocks(world, ben)]
    assert starts == [tomorrow(8, days=d) for d in range(1, 6)]


def test_each_direction_does_only_its_part(world: World) -> None:
    ann = world.trainer("ann", "out")
    ben = world.trainer("ben", "in")
    cat = world.trainer("cat", "both")
    world.event("First Aid", [tomorrow(9)], [ann, ben, cat])
    for who in (ann, ben, cat):
        world.add_appointment(who, "Own thing", tomorrow(18), tomorrow(19))
    assert sync_provider(provider="Acme", return_state=True).is_completed()

    def subjects(who: str) -> list[str]:
        return sorted(i["subject"] for i in world.items(who))

    assert subjects(ann) == ["First Aid — Leeds Centre", "Own thing"]
    assert subjects(ben) == ["Own thing"]  # in only: the session stays on the platform
    assert subjects(cat) == ["First Aid — Leeds Centre", "Own thing"]
    assert blocks(world, ann) == []  # out only: Outlook does not block Ann
    assert len(blocks(world, ben)) == 1
    assert len(blocks(world, cat)) == 1
    # No echo: Cat's pushed course did not come back as a block, nor her block go out.
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert subjects(cat) == ["First Aid — Leeds Centre", "Own thing"]
    assert len(blocks(world, cat)) == 1


def test_planning_in_slices_of_trainers_gives_the_same_result(
    ews_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.plan

    monkeypatch.setattr(tasks.plan, "PLAN_SLICE", 1)
    world = ews_world
    ann, ben, cat = (
        world.trainer(n, d) for n, d in (("ann", "out"), ("ben", "in"), ("cat", "both"))
    )
    world.event("First Aid", [tomorrow(9)], [ann, ben, cat])
    for who in (ben, cat):
        world.add_appointment(who, "Own thing", tomorrow(18), tomorrow(19))
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    records = {r["trainer"]: r for r in world.records()}
    assert [records[t]["exchange_created"] for t in (ann, ben, cat)] == [1, 0, 1]
    assert [records[t]["platform_created"] for t in (ann, ben, cat)] == [0, 1, 1]
    assert sync_provider(provider="Acme", return_state=True).message.count("+0 ~0 -0") == 2
