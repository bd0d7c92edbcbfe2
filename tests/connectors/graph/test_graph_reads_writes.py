"""Reads (series, all-day, tags) and batched writes through the Graph backend."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from connectors.exchange import ExchangeAction
from connectors.exchange.tag import GRAPH_TAG_PROPERTY_ID
from tests.connectors.conftest import utc
from tests.connectors.graph.conftest import TRAINER, as_trainer, graph_requests, trainer_event

BERLIN = ZoneInfo("Europe/Berlin")
WINDOW = (utc(2026, 11, 30), utc(2027, 1, 1))


def _create(key: str, start: dt.datetime, hours: int = 1, **kw) -> ExchangeAction:
    return ExchangeAction(
        action="create",
        entry_key=key,
        subject=kw.pop("subject", f"Course {key}"),
        body="Room 4, bring the workbook",
        location="Berlin",
        start=start,
        end=start + dt.timedelta(hours=hours),
        timezone="Europe/Berlin",
        categories=("Training",),
        reminder_minutes=30,
        content_hash=f"h-{key}",
        **kw,
    )


def test_reads_series_all_day_and_tags_in_one_request(world, connector):
    me = as_trainer(world)
    trainer_event(
        me,
        world,
        "Standup",
        "2026-12-01T08:00:00",
        "2026-12-01T08:30:00",
        recurrence={
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": "2026-12-01", "numberOfOccurrences": 3},
        },
        showAs="tentative",
    )
    holiday = {"dateTime": "2026-12-07T00:00:00", "timeZone": "W. Europe Standard Time"}
    me.post(
        f"{world.url}/me/events",
        json={
            "subject": "Holiday",
            "isAllDay": True,
            "start": holiday,
            "end": {**holiday, "dateTime": "2026-12-08T00:00:00"},
        },
    ).raise_for_status()
    midnight = dt.datetime(2026, 12, 5, tzinfo=BERLIN).astimezone(dt.UTC)
    all_day = _create("U-1", midnight, hours=24, all_day=True, show_as="OOF")
    results = connector.apply(TRAINER, [all_day, _create("S-1", utc(2026, 12, 2, 9))])
    assert all(r.ok for r in results), results
    world.control.reset_counters()
    rows = connector.read_window(TRAINER, *WINDOW)
    assert graph_requests(world) == {"calendarView": 1}
    assert [(r.subject, r.start, r.show_as) for r in rows[:3]] == [
        ("Standup", utc(2026, 12, 1, 8), "Tentative"),
        ("Standup", utc(2026, 12, 2, 8), "Tentative"),
        ("Course S-1", utc(2026, 12, 2, 9), "Busy"),
    ]
    assert len({r.item_id for r in rows if r.subject == "Standup"}) == 3
    day = next(r for r in rows if r.tag_key == "U-1")
    assert (day.all_day, day.start, day.end, day.show_as) == (
        True,
        midnight,
        midnight + dt.timedelta(days=1),
        "OOF",
    )
    own_day = next(r for r in rows if r.subject == "Holiday")
    assert (own_day.all_day, own_day.start, own_day.end, own_day.tag_key) == (
        True,
        utc(2026, 12, 6, 23),
        utc(2026, 12, 7, 23),
        None,
    )
    course = next(r for r in rows if r.tag_key == "S-1")
    assert (course.tag_hash, course.body, course.location) == (
        "h-S-1",
        "Room 4, bring the workbook",
        "Berlin",
    )
    assert all(r.tag_key is None for r in rows if r.subject == "Standup")
    stored = {i["subject"]: i for i in world.control.items(TRAINER)}
    assert not stored["Course S-1"].get("attendees")  # no attendees: no invitations are sent
    assert stored["Course S-1"]["start"]["timeZone"] == "W. Europe Standard Time"


def test_an_item_tagged_by_the_ews_backend_is_recognised(world, connector):
    me = as_trainer(world)
    trainer_event(
        me,
        world,
        "Migrated course",
        "2026-12-03T09:00:00",
        "2026-12-03T17:00:00",
        singleValueExtendedProperties=[{"id": GRAPH_TAG_PROPERTY_ID, "value": "S-77|a1b2c3"}],
    )
    (row,) = connector.read_window(TRAINER, *WINDOW)
    assert (row.tag_key, row.tag_hash) == ("S-77", "a1b2c3")


def test_reads_follow_next_links(world, make_connector):
    conn = make_connector()
    conn.page_size = 3
    me = as_trainer(world)
    for day in range(1, 8):
        trainer_event(me, world, f"D{day}", f"2026-12-0{day}T09:00:00", f"2026-12-0{day}T10:00:00")
    rows = conn.read_window(TRAINER, *WINDOW)
    assert [r.subject for r in rows] == [f"D{d}" for d in range(1, 8)]
    assert graph_requests(world)["calendarView"] == 3


def test_45_creates_in_batches_of_20_one_refused_fails_alone(world, connector):
    world.control.faults(refuse=[{"subject_contains": "REFUSED", "code": "ErrorInvalidRequest"}])
    actions = [_create(f"S-{n}", utc(2026, 12, 1, 8) + dt.timedelta(hours=n)) for n in range(45)]
    actions[30] = _create("S-30", utc(2026, 12, 3), subject="REFUSED course")
    world.control.reset_counters()
    results = connector.apply(TRAINER, actions)
    assert [n for n, r in enumerate(results) if not r.ok] == [30]
    assert results[30].error == "InvalidItem" and "ErrorInvalidRequest" in results[30].message
    assert len({r.item_id for r in results if r.ok}) == 44
    # 20 + 20 (the 9 chained after the refused item are not run: 424) + the 9 resent with 5
    assert graph_requests(world) == {"$batch": 3}
    subrequests = world.control.counters()["subrequests"]
    assert (subrequests["events.create"], subrequests["failedDependency"]) == (45, 9)
    rows = connector.read_window(TRAINER, *WINDOW)
    assert sorted(r.tag_key for r in rows) == sorted(
        a.entry_key for a in actions if a.subject != "REFUSED course"
    )


def test_creates_sent_again_after_a_dropped_connection_are_made_once(world, connector):
    # Graph carries the first batch out, then the connection drops before its answer arrives.
    world.control.faults(schedule=[{"method": "POST", "path": "$batch", "count": 1, "drop": True}])
    actions = [_create(f"S-{n}", utc(2026, 12, 1, 8) + dt.timedelta(hours=n)) for n in range(25)]
    results = connector.apply(TRAINER, actions)
    assert all(r.ok for r in results)
    stored = world.control.items(TRAINER)
    assert sorted(i["subject"] for i in stored) == sorted(a.subject for a in actions)
    assert sorted(r.item_id for r in results) == sorted(i["id"] for i in stored)
    assert graph_requests(world) == {"$batch": 3}  # the dropped one, its resend, the last 5
    rows = connector.read_window(TRAINER, *WINDOW)
    assert sorted(r.tag_key for r in rows) == sorted(a.entry_key for a in actions)


def test_update_sends_changed_fields_and_conflicts_on_a_stale_change_key(world, connector):
    (created,) = connector.apply(TRAINER, [_create("S-1", utc(2026, 12, 2, 9))])
    me = as_trainer(world)
    edited = me.patch(
        f"{world.url}/me/events/{created.item_id}", json={"location": {"displayName": "Home"}}
    )
    assert edited.status_code == 200
    stale = ExchangeAction(
        action="update",
        entry_key="S-1",
        item_id=created.item_id,
        change_key=created.change_key,
        subject="Renamed",
        content_hash="h2",
        changed_fields=("subject",),
    )
    (conflict,) = connector.apply(TRAINER, [stale])
    assert (conflict.ok, conflict.error) == (False, "Conflict")
    fresh = edited.json()["changeKey"]
    (ok,) = connector.apply(TRAINER, [ExchangeAction(**{**stale.__dict__, "change_key": fresh})])
    assert ok.ok and ok.change_key not in (fresh, created.change_key)
    (row,) = connector.read_window(TRAINER, *WINDOW)
    assert (row.subject, row.location, row.tag_hash) == ("Renamed", "Home", "h2")


def test_delete_modes_and_already_deleted(world, connector):
    made = connector.apply(TRAINER, [_create(k, utc(2026, 12, 2, 9)) for k in ("S-1", "S-2")])
    deletes = [
        ExchangeAction(action="delete", entry_key="S-1", item_id=made[0].item_id),
        ExchangeAction(
            action="delete", entry_key="S-2", item_id=made[1].item_id, delete_mode="hard_delete"
        ),
    ]
    assert all(r.ok for r in connector.apply(TRAINER, deletes))
    folders = {i["subject"]: i["folder"] for i in world.control.items(TRAINER)}
    assert folders == {"Course S-1": "deleteditems", "Course S-2": "purged"}
    again = connector.apply(TRAINER, deletes[:1])
    assert again[0].ok and again[0].message == "already deleted"


def test_invalid_actions_fail_alone_before_sending(world, connector):
    bad_all_day = _create("U-2", utc(2026, 12, 5, 9), hours=24, all_day=True)
    results = connector.apply(TRAINER, [bad_all_day, _create("S-3", utc(2026, 12, 2, 9))])
    assert (results[0].ok, results[0].error) == (False, "InvalidItem")
    assert "midnight" in results[0].message and results[1].ok


def test_rows_carry_the_last_change_time_and_the_organizer(world, connector):
    me = as_trainer(world)
    made = trainer_event(me, world, "Dentist", "2026-12-03T09:00:00", "2026-12-03T10:00:00")
    (before,) = connector.read_window(TRAINER, *WINDOW)
    # Graph names no one who last saved an event: the organizer (the mailbox) stands in.
    assert before.modified_by == TRAINER.split("@")[0]
    assert before.modified_at is not None and before.modified_at.tzinfo == dt.UTC

    moved = {
        "start": {"dateTime": "2026-12-03T11:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-03T12:00:00", "timeZone": "UTC"},
    }
    assert me.patch(f"{world.url}/me/events/{made['id']}", json=moved).status_code == 200
    (after,) = connector.read_window(TRAINER, *WINDOW)
    assert after.modified_at is not None and after.modified_at >= before.modified_at
