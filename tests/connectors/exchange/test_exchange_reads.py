"""Reading a window and the change gate, against the EWS emulator."""

from __future__ import annotations

import datetime as dt

from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.recurrence import DailyPattern, Recurrence

from connectors.exchange import ExchangeAction, engine_writes_from
from tests.connectors.conftest import utc
from tests.connectors.exchange.conftest import as_trainer, master_requests

TRAINER = "editor@contoso.test"
AMS = EWSTimeZone("Europe/Amsterdam")
WINDOW = (utc(2026, 11, 30), utc(2026, 12, 31))


def _own_appointment(account, subject, start, end, **kwargs):
    item = CalendarItem(
        account=account, folder=account.calendar, subject=subject, start=start, end=end, **kwargs
    )
    item.save()
    return item


def test_window_expands_series_and_reads_all_day_items(world, connector):
    trainer = as_trainer(world, TRAINER)
    _own_appointment(
        trainer,
        "Dentist",
        EWSDateTime(2026, 12, 7, 9, 0, tzinfo=AMS),
        EWSDateTime(2026, 12, 7, 10, 0, tzinfo=AMS),
        recurrence=Recurrence(
            pattern=DailyPattern(interval=1), start=EWSDate(2026, 12, 7), number=3
        ),
        location="Clinic",
        body="private note",
        legacy_free_busy_status="OOF",
    )
    # exchangelib's all-day end date is inclusive: a one-day item ends on its own date.
    _own_appointment(
        trainer, "Holiday", EWSDate(2026, 12, 24), EWSDate(2026, 12, 24), is_all_day=True
    )

    rows = connector.read_window(TRAINER, *WINDOW)

    series = [r for r in rows if r.subject == "Dentist"]
    assert [r.start for r in series] == [utc(2026, 12, d, 8) for d in (7, 8, 9)]
    assert all(r.end - r.start == dt.timedelta(hours=1) for r in series)
    assert len({r.item_id for r in series}) == 3
    assert series[0].location == "Clinic" and series[0].body == "private note"
    assert series[0].show_as == "OOF" and series[0].tag_key is None and series[0].tag_hash is None
    (holiday,) = [r for r in rows if r.subject == "Holiday"]
    assert holiday.all_day
    assert holiday.end - holiday.start == dt.timedelta(days=1)
    assert holiday.start.tzinfo == dt.UTC
    # Items outside the window are not read.
    assert connector.read_window(TRAINER, utc(2027, 1, 1), utc(2027, 2, 1)) == []


def test_a_read_costs_one_view_and_one_get_per_100_items(world, connector):
    trainer = as_trainer(world, TRAINER)
    items = [
        _own_appointment(trainer, f"Own {i}", utc(2026, 12, 1 + i, 9), utc(2026, 12, 1 + i, 10))
        for i in range(5)
    ]
    world.control.reset_counters()
    first = connector.read_window(TRAINER, *WINDOW)
    assert [r.subject for r in first] == [f"Own {i}" for i in range(5)]
    assert world.control.counters()["by_operation"] == {"FindItem": 1, "GetItem": 1}

    items[2].subject = "Moved"
    items[2].save(update_fields=["subject"])
    world.control.reset_counters()
    again = connector.read_window(TRAINER, *WINDOW)
    assert world.control.counters()["by_operation"] == {"FindItem": 1, "GetItem": 1}
    assert [r.subject for r in again] == ["Own 0", "Own 1", "Moved", "Own 3", "Own 4"]


def test_truncated_views_are_split_so_no_item_is_dropped(world, make_connector):
    connector = make_connector()
    connector.view_max_entries = 4
    actions = [
        ExchangeAction(
            "create",
            f"entry-{i}",
            subject=f"Session {i}",
            start=utc(2026, 12, 1, 8) + dt.timedelta(hours=5 * i),
            end=utc(2026, 12, 1, 9) + dt.timedelta(hours=5 * i),
            content_hash="h",
        )
        for i in range(23)
    ]
    assert all(r.ok for r in connector.apply(TRAINER, actions))
    rows = connector.read_window(TRAINER, *WINDOW)
    assert sorted(r.tag_key for r in rows) == sorted(a.entry_key for a in actions)
    assert connector.stats.counts["FindItem"] > 6  # it had to split


def test_idle_mailbox_costs_exactly_one_request(world, connector):
    first = connector.changed_since(TRAINER, None)
    assert first.changed  # no cursor yet: everything is new
    world.control.reset_counters()

    check = connector.changed_since(TRAINER, first.cursor)

    assert not check.changed
    assert master_requests(world) == 1
    assert world.control.counters()["by_operation"] == {"SyncFolderItems": 1}


def test_a_trainer_edit_is_a_change_the_engine_own_writes_are_not(world, connector):
    cursor = connector.changed_since(TRAINER, None).cursor
    actions = [
        ExchangeAction(
            "create", "s-1", subject="Course", start=utc(2026, 12, 2, 9), end=utc(2026, 12, 2, 17)
        )
    ]
    results = connector.apply(TRAINER, actions)
    after_write = connector.changed_since(TRAINER, cursor, engine_writes_from(actions, results))
    assert not after_write.changed
    assert not connector.changed_since(TRAINER, after_write.cursor).changed

    trainer = as_trainer(world, TRAINER)
    _own_appointment(trainer, "Gym", utc(2026, 12, 3, 18), utc(2026, 12, 3, 19))
    check = connector.changed_since(TRAINER, after_write.cursor)
    assert check.changed
    assert not connector.changed_since(TRAINER, check.cursor).changed


def test_invalid_cursor_falls_back_to_changed_with_a_fresh_cursor(world, connector):
    check = connector.changed_since(TRAINER, "bm90LWEtc3luYy1zdGF0ZQ==")
    assert check.changed
    assert check.cursor and check.cursor != "bm90LWEtc3luYy1zdGF0ZQ=="
    assert not connector.changed_since(TRAINER, check.cursor).changed


def test_the_window_is_half_open_although_exchanges_view_is_not(world, connector):
    # Exchange's CalendarView also returns an item that ends exactly at the view's start;
    # the window [start, end) does not hold it, and a sync must not treat it as in view.
    trainer = as_trainer(world, TRAINER)
    start, end = WINDOW
    _own_appointment(trainer, "Ends at the start", start - dt.timedelta(hours=1), start)
    _own_appointment(trainer, "Starts at the start", start, start + dt.timedelta(hours=1))
    _own_appointment(trainer, "Zero length at the start", start, start)
    _own_appointment(trainer, "Starts at the end", end, end + dt.timedelta(hours=1))
    view = trainer.calendar.view(start=start, end=end)
    assert {i.subject for i in view} == {
        "Ends at the start", "Starts at the start", "Zero length at the start"
    }  # fmt: skip

    rows = connector.read_window(TRAINER, start, end)

    assert {r.subject for r in rows} == {"Starts at the start", "Zero length at the start"}


def test_a_monthly_team_meeting_comes_in_occurrence_by_occurrence(world, connector):
    # "The second Tuesday of every month", one moved and one cancelled: what a trainer's
    # Outlook holds, and what the inbound sync turns into Unavailable blocks.
    from exchangelib.recurrence import RelativeMonthlyPattern

    trainer = as_trainer(world, TRAINER)
    pattern = RelativeMonthlyPattern(interval=1, weekday=2, week_number=2)
    master = _own_appointment(
        trainer,
        "Team meeting",
        EWSDateTime(2026, 12, 8, 14, 0, tzinfo=AMS),
        EWSDateTime(2026, 12, 8, 15, 0, tzinfo=AMS),
        recurrence=Recurrence(pattern=pattern, start=EWSDate(2026, 12, 8), number=6),
    )
    window = (utc(2026, 12, 1), utc(2027, 6, 1))
    view = list(trainer.calendar.view(start=window[0], end=window[1]))
    moved, cancelled = view[1], view[2]
    moved.start, moved.end = moved.start + dt.timedelta(hours=2), moved.end + dt.timedelta(hours=2)
    moved.save(update_fields=["start", "end"])
    cancelled.delete()

    rows = connector.read_window(TRAINER, *window)

    assert [r.start for r in rows] == [
        utc(2026, 12, 8, 13),
        utc(2027, 1, 12, 15),
        utc(2027, 3, 9, 13),
        utc(2027, 4, 13, 12),
        utc(2027, 5, 11, 12),
    ]  # fmt: skip  (Amsterdam is UTC+1 until 28 March, UTC+2 after)
    assert all(r.subject == "Team meeting" for r in rows)
    assert len({r.item_id for r in rows}) == 5 and master.id not in {r.item_id for r in rows}


def test_each_row_says_who_saved_the_item_last_and_when(world, connector):
    created = connector.apply(
        TRAINER,
        [ExchangeAction("create", "s-1", start=utc(2026, 12, 2, 9), end=utc(2026, 12, 2, 17))],
    )
    (pushed,) = connector.read_window(TRAINER, *WINDOW)
    assert pushed.modified_by == "master"  # the master account wrote it
    assert pushed.modified_at is not None and pushed.modified_at.tzinfo == dt.UTC

    trainer = as_trainer(world, TRAINER)
    item = trainer.calendar.get(id=created[0].item_id)
    item.subject = "Moved by me"
    item.save(update_fields=["subject"])
    (edited,) = connector.read_window(TRAINER, *WINDOW)
    assert edited.modified_by == "editor"  # the trainer's own display name
    assert edited.modified_at is not None and edited.modified_at >= pushed.modified_at
