"""Batched per-item writes, the tag and all-day round trips, against the EWS emulator."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from connectors.exchange import ExchangeAction
from connectors.exchange.tag import TAG_PROPERTY_NAME
from tests.connectors.conftest import utc
from tests.connectors.exchange.conftest import as_trainer

TRAINER = "editor@contoso.test"
WINDOW = (utc(2026, 11, 1), utc(2027, 3, 1))


def session(key: str, hour: int = 9, day: int = 2, **kwargs) -> ExchangeAction:
    fields = {
        "subject": f"Course {key}",
        "body": f"Joining instructions for {key}",
        "location": "Room 1",
        "start": utc(2026, 12, day, hour),
        "end": utc(2026, 12, day, hour + 1),
        "timezone": "Europe/Amsterdam",
        "content_hash": f"hash-{key}",
        **kwargs,
    }
    return ExchangeAction("create", key, **fields)


def test_250_creates_with_one_refused_item_fail_only_that_item(world, connector):
    world.control.faults(refuse=[{"operation": "CreateItem", "subject_matches": "^Course s-137$"}])
    actions = [session(f"s-{i}", hour=6 + i % 12, day=1 + i // 12) for i in range(250)]

    results = connector.apply(TRAINER, actions)

    assert len(results) == 250
    failed = [i for i, r in enumerate(results) if not r.ok]
    assert failed == [137]
    assert results[137].error == "InvalidItem"
    assert "ErrorInvalidValueForProperty" in results[137].message
    assert all(r.item_id and r.change_key for i, r in enumerate(results) if i != 137)
    assert world.control.counters()["by_operation"] == {"CreateItem": 3}  # 100 + 100 + 50
    rows = connector.read_window(TRAINER, *WINDOW)
    assert len(rows) == 249
    assert {r.tag_key for r in rows} == {f"s-{i}" for i in range(250)} - {"s-137"}


def test_create_writes_an_appointment_with_the_action_fields_and_tag(world, connector):
    action = session(
        "s-1", show_as="OOF", categories=("Training", "Trainer-sync"), reminder_minutes=30
    )
    (result,) = connector.apply(TRAINER, [action])
    assert result.ok

    (stored,) = world.control.items(TRAINER)
    assert stored["subject"] == "Course s-1"
    assert stored["show_as"] == "OOF"
    assert stored["categories"] == ["Training", "Trainer-sync"]
    assert stored["reminder_is_set"] and stored["reminder_minutes_before_start"] == 30
    assert stored["extended_properties"][TAG_PROPERTY_NAME] == "s-1|hash-s-1"
    assert stored["start_time_zone"] == "W. Europe Standard Time"

    (row,) = connector.read_window(TRAINER, *WINDOW)
    assert (row.item_id, row.change_key) == (result.item_id, result.change_key)
    assert (row.tag_key, row.tag_hash) == ("s-1", "hash-s-1")
    assert (row.start, row.end) == (action.start, action.end)
    assert row.body == "Joining instructions for s-1" and row.location == "Room 1"


def test_update_changes_only_the_named_fields_and_rewrites_the_tag(world, connector):
    (created,) = connector.apply(TRAINER, [session("s-1")])
    trainer = as_trainer(world, TRAINER)
    (item,) = trainer.fetch(ids=[(created.item_id, created.change_key)])
    item.location = "Trainer's own note"
    item.save(update_fields=["location"])
    (fresh,) = connector.read_window(TRAINER, *WINDOW)

    update = ExchangeAction(
        "update",
        "s-1",
        item_id=fresh.item_id,
        change_key=fresh.change_key,
        subject="Course s-1 (moved)",
        location="Room 1",
        start=utc(2026, 12, 3, 13),
        end=utc(2026, 12, 3, 15),
        timezone="Europe/Amsterdam",
        content_hash="hash-2",
        changed_fields=("subject", "start", "end"),
    )
    (result,) = connector.apply(TRAINER, [update])

    assert result.ok and result.item_id == fresh.item_id and result.change_key != fresh.change_key
    (row,) = connector.read_window(TRAINER, *WINDOW)
    assert row.subject == "Course s-1 (moved)"
    assert (row.start, row.end) == (utc(2026, 12, 3, 13), utc(2026, 12, 3, 15))
    assert row.location == "Trainer's own note"  # not in changed_fields: left alone
    assert row.tag_hash == "hash-2"


def test_update_with_a_stale_change_key_is_a_conflict(world, connector):
    (created,) = connector.apply(TRAINER, [session("s-1")])
    trainer = as_trainer(world, TRAINER)
    (item,) = trainer.fetch(ids=[(created.item_id, created.change_key)])
    item.subject = "Edited in Outlook"
    item.save(update_fields=["subject"])

    stale = ExchangeAction(
        "update",
        "s-1",
        item_id=created.item_id,
        change_key=created.change_key,
        subject="Course s-1",
        content_hash="hash-s-1",
        changed_fields=("subject",),
    )
    (result,) = connector.apply(TRAINER, [stale])
    assert not result.ok and result.error == "Conflict"
    (row,) = connector.read_window(TRAINER, *WINDOW)
    assert row.subject == "Edited in Outlook"


@pytest.mark.parametrize(
    ("mode", "folder"),
    [
        ("move_to_deleted_items", "deleteditems"),
        ("soft_delete", "recoverableitemsdeletions"),
        ("hard_delete", None),
    ],
)
def test_delete_modes(world, connector, mode, folder):
    (created,) = connector.apply(TRAINER, [session("s-1")])
    action = ExchangeAction("delete", "s-1", item_id=created.item_id, delete_mode=mode)
    (result,) = connector.apply(TRAINER, [action])
    assert result.ok
    assert connector.read_window(TRAINER, *WINDOW) == []
    stored = world.control.items(TRAINER)
    assert [s["folder"] for s in stored] == ([folder] if folder else [])


def test_default_delete_moves_to_deleted_items_and_a_gone_item_is_not_an_error(world, connector):
    (created,) = connector.apply(TRAINER, [session("s-1")])
    delete = ExchangeAction("delete", "s-1", item_id=created.item_id)
    assert delete.delete_mode == "move_to_deleted_items"
    trainer = as_trainer(world, TRAINER)
    (item,) = trainer.fetch(ids=[(created.item_id, created.change_key)])
    item.delete()  # the trainer deleted it in Outlook first
    (result,) = connector.apply(TRAINER, [delete])
    assert result.ok and result.message == "already deleted"


def test_update_of_a_deleted_item_is_item_not_found(world, connector):
    (created,) = connector.apply(TRAINER, [session("s-1")])
    connector.apply(
        TRAINER,
        [ExchangeAction("delete", "s-1", item_id=created.item_id, delete_mode="hard_delete")],
    )
    update = ExchangeAction(
        "update",
        "s-1",
        item_id=created.item_id,
        change_key=created.change_key,
        subject="x",
        changed_fields=("subject",),
    )
    (result,) = connector.apply(TRAINER, [update])
    assert not result.ok and result.error == "ItemNotFound"


@pytest.mark.parametrize("zone", ["Europe/Amsterdam", "America/New_York", "Australia/Sydney"])
def test_all_day_items_read_back_as_the_same_utc_instants(connector, zone):
    tz = ZoneInfo(zone)
    start = dt.datetime(2026, 12, 24, tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime(2026, 12, 26, tzinfo=tz).astimezone(dt.UTC)
    action = ExchangeAction(
        "create", "holiday", subject="Closed", start=start, end=end, all_day=True, timezone=zone
    )
    (result,) = connector.apply(TRAINER, [action])
    assert result.ok
    (row,) = connector.read_window(TRAINER, *WINDOW)
    assert row.all_day
    assert (row.start, row.end) == (start, end)


def test_invalid_actions_fail_alone(connector):
    actions = [
        session("good-1"),
        ExchangeAction("create", "no-times", subject="x"),
        ExchangeAction("update", "no-key", item_id="abc", subject="x"),
        ExchangeAction("move", "what"),
        session("bad-zone", timezone="Mars/Olympus_Mons"),
        ExchangeAction(
            "update",
            "bad-show-as",
            item_id="abc",
            change_key="ck",
            show_as="Snoozing",
            changed_fields=("show_as",),
        ),
        session("huge-zone", timezone="Mars/" + "x" * 100_000),
        session("good-2", hour=11),
    ]
    results = connector.apply(TRAINER, actions)
    assert [r.ok for r in results] == [True, False, False, False, False, False, False, True]
    assert {r.error for r in results if not r.ok} == {"InvalidItem"}
    assert "change key" in results[2].message
    # A refused value is quoted, not copied whole into the result and the run's logs.
    assert "Mars/xxx" in results[6].message and results[6].message.endswith("…")
    assert all(len(r.message or "") < 400 for r in results)


def test_impersonation_reads_and_writes_like_delegate_access(world, make_connector):
    world.control.grant(
        owner="nogrant@contoso.test", grantee="master@contoso.test", kind="impersonation"
    )
    conn = make_connector(access_type="impersonation")
    (result,) = conn.apply("nogrant@contoso.test", [session("s-1")])
    assert result.ok
    (row,) = conn.read_window("nogrant@contoso.test", *WINDOW)
    assert row.tag_key == "s-1"
    assert world.control.items("nogrant@contoso.test")[0]["subject"] == "Course s-1"
