"""In: a trainer's own Outlook appointments block them as "Unavailable", without details."""

from __future__ import annotations

from datetime import timedelta

from exchangelib.recurrence import DailyPattern, Recurrence

from connectors.platform import db
from connectors.platform.calendar import trainer_calendar
from connectors.platform.configuration import find_trainer
from flows.sync import sync_provider
from tests.flows.conftest import World, tomorrow


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
    text = repr(block)
    assert "Therapy" not in text and "Private details" not in text and "Home" not in text
    with db.get_engine(world.url).connect() as c:
        dump = repr(c.exec_driver_sql("SELECT * FROM unavailability").all())
        dump += repr(c.exec_driver_sql("SELECT * FROM sync_changes").all())
    assert "Therapy" not in dump and "Private details" not in dump


def test_moved_appointment_moves_the_block_and_deleted_one_removes_it(world: World) -> None:
    ben = world.trainer("ben", "in")
    item = world.add_appointment(ben, "Dentist", tomorrow(14), tomorrow(15))
    sync_provider(provider="Acme", return_state=True)
    item.start, item.end = tomorrow(16), tomorrow(17)
    item.save(update_fields=["start", "end"])
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert [(b["start"], b["end"]) for b in blocks(world, ben)] == [(tomorrow(16), tomorrow(17))]
    item.delete()
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert blocks(world, ben) == []


def test_recurring_series_gives_one_block_per_occurrence_in_the_window(world: World) -> None:
    ben = world.trainer("ben", "in")
    world.add_appointment(
        ben,
        "Stand-up",
        tomorrow(8),
        tomorrow(8) + timedelta(minutes=30),
        recurrence=Recurrence(pattern=DailyPattern(interval=1), start=tomorrow(0).date(), number=5),
    )
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
    pushed = {who: [i["subject"] for i in world.items(who)] for who in (ann, ben, cat)}
    assert sorted(pushed[ann]) == ["First Aid — Leeds Centre", "Own thing"]
    assert pushed[ben] == ["Own thing"]  # in only: the session stays on the platform
    assert sorted(pushed[cat]) == ["First Aid — Leeds Centre", "Own thing"]
    assert blocks(world, ann) == []  # out only: Outlook does not block Ann
    assert len(blocks(world, ben)) == 1
    assert len(blocks(world, cat)) == 1
    # No echo: Cat's pushed course did not come back as a block, nor her block go out.
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert sorted(i["subject"] for i in world.items(cat)) == [
        "First Aid — Leeds Centre",
        "Own thing",
    ]
    assert len(blocks(world, cat)) == 1
