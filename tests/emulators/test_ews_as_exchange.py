"""Where Exchange's own answers differ from what a client might expect, the emulator answers
as Exchange does. Each test follows the calendar-item tests exchangelib runs against real
Exchange servers (its tests/test_items/test_calendaritems.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import CalendarItem, EWSDate
from exchangelib.errors import (
    ErrorInvalidChangeKey,
    ErrorInvalidOperation,
    ErrorItemNotFound,
    ErrorMissingInformationReferenceItemId,
    ErrorUnsupportedPathForQuery,
)
from exchangelib.items import AcceptItem
from exchangelib.items.calendar_item import OCCURRENCE, RECURRING_MASTER, SINGLE
from exchangelib.properties import ReferenceItemId
from exchangelib.recurrence import DailyPattern, Recurrence

from .conftest import LONDON, MASTER, MASTER_PW, account, at, event


def test_a_view_holds_an_item_ending_at_its_start_but_not_one_starting_at_its_end(org) -> None:  # type: ignore[no-untyped-def]
    acc = account(org)
    first = event(acc, "First", day=4)  # 09:00-10:00 on 4 May
    second = CalendarItem(folder=acc.calendar, subject="Second", start=at(5, 9), end=at(5, 10))
    zero = CalendarItem(folder=acc.calendar, subject="Zero", start=at(4, 10), end=at(4, 10))
    acc.bulk_create(acc.calendar, [first, second, zero])

    def seen(start: dt.datetime, end: dt.datetime) -> set[str]:
        return {i.subject for i in acc.calendar.view(start=start, end=end)}

    assert seen(at(4, 9), at(4, 10)) == {"First"}  # Zero is at the view's end
    assert seen(at(4, 9), at(5, 10)) == {"First", "Zero", "Second"}
    # "Should logically return 0 items, but Exchange ... returns item1 even though there is no
    # overlap" (exchangelib's test_view): the end of one item to the start of the next. A
    # zero-length item at the view's start is in it too.
    assert seen(at(4, 10), at(5, 9)) == {"First", "Zero"}
    assert seen(at(4, 9), at(5, 9)) == {"First", "Zero"}  # Second starts at the view's end


def test_a_series_master_is_not_itself_recurring_its_occurrences_are(org) -> None:  # type: ignore[no-untyped-def]
    acc = account(org)
    master = event(
        acc,
        "Daily",
        recurrence=Recurrence(
            pattern=DailyPattern(interval=1), start=EWSDate(2026, 5, 4), number=4
        ),
    ).save()
    single = event(acc, "Once", day=20).save()
    master.refresh()
    single.refresh()
    assert (master.type, master.is_recurring) == (RECURRING_MASTER, False)
    assert (single.type, single.is_recurring) == (SINGLE, False)
    unfolded = [i for i in acc.calendar.view(start=at(4, 0), end=at(8, 0)) if i.subject == "Daily"]
    assert len(unfolded) == 4
    assert all(i.type == OCCURRENCE and i.is_recurring for i in unfolded)


def test_a_uid_the_client_gives_is_kept(org) -> None:  # type: ignore[no-untyped-def]
    acc = account(org)
    mine = event(acc, "With UID", uid="040000008200E00074C5B7101A82E008-trainer-sync-1").save()
    theirs = event(acc, "Without UID").save()
    mine.refresh()
    theirs.refresh()
    assert mine.uid == "040000008200E00074C5B7101A82E008-trainer-sync-1"
    assert theirs.uid and theirs.uid != mine.uid


def test_an_all_day_item_ends_at_the_midnight_after_its_last_day(org) -> None:  # type: ignore[no-untyped-def]
    # exchangelib's test_all_day_datetimes: datetimes given, the days read back are theirs.
    acc = account(org)
    start, end = at(4, 15), dt.datetime(2026, 5, 6, 11, 30, tzinfo=LONDON)
    item = CalendarItem(folder=acc.calendar, start=start, end=end, is_all_day=True).save()
    read = acc.calendar.all().only("is_all_day", "start", "end").get(id=item.id)
    assert read.is_all_day is True
    assert (read.start, read.end) == (start.date(), end.date())
    # On the wire, the item spans whole days of its time zone: midnight to midnight.
    (stored,) = org.control.items("trainer1@contoso.test")
    assert stored["start"] == "2026-05-03T23:00:00Z"  # 4 May 00:00 in London (BST)
    assert stored["end"] == "2026-05-06T23:00:00Z"  # 7 May 00:00


def test_subjects_are_cut_to_255_characters(org, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # exchangelib refuses a longer subject itself; other clients send them, and Exchange cuts.
    monkeypatch.setattr(CalendarItem.get_field_by_fieldname("subject"), "max_length", 10_000)
    acc = account(org)
    long_ = event(acc, "x" * 300).save()
    emoji = event(acc, "😀" * 200, day=5).save()  # two UTF-16 code units each
    long_.refresh()
    emoji.refresh()
    assert long_.subject == "x" * 255
    assert emoji.subject == "😀" * 127


def test_delete_refuses_a_change_key_exchange_did_not_issue(org) -> None:  # type: ignore[no-untyped-def]
    acc = account(org)
    item = event(acc).save()
    item.changekey = "not-a-change-key"
    with pytest.raises(ErrorInvalidChangeKey):
        item.delete()
    assert len(list(acc.calendar.all())) == 1


def test_sent_items_and_drafts_exist_as_on_every_mailbox(org) -> None:  # type: ignore[no-untyped-def]
    acc = account(org, mailbox="master@contoso.test")  # its own mailbox: every folder is its
    assert acc.sent.name == "Sent Items" and acc.drafts.name == "Drafts"
    assert list(acc.sent.all()) == [] and list(acc.drafts.all()) == []


def test_cancelling_a_meeting_takes_it_out_of_the_calendar(org) -> None:  # type: ignore[no-untyped-def]
    # exchangelib's test_cancel: the organiser cancels; cancelling again finds nothing.
    from exchangelib.errors import ErrorItemNotFound
    from exchangelib.items import BulkCreateResult

    own = account(org, user="trainer1@contoso.test", password="trainer1-pw")
    item = event(own, "Cancelled course").save()
    assert isinstance(item.cancel(), BulkCreateResult)
    with pytest.raises(ErrorItemNotFound):
        item.cancel()
    assert list(own.calendar.all()) == []
    (stored,) = org.control.items("trainer1@contoso.test")
    assert stored["folder"] == "deleteditems"


def test_a_uid_the_client_changes_is_the_one_read_back(org) -> None:  # type: ignore[no-untyped-def]
    # exchangelib's test_item and test_save_and_delete update every field, the UID included.
    acc = account(org)
    item = event(acc).save()
    item.uid = "trainer-sync-session-7-updated"
    item.save(update_fields=["uid"])
    assert acc.calendar.get(id=item.id).uid == "trainer-sync-session-7-updated"


def test_a_calendar_view_takes_no_restriction(org) -> None:  # type: ignore[no-untyped-def]
    # exchangelib's test_view: "EWS does not allow restrictions" on a CalendarView; the client
    # filters and sorts the expanded items itself.
    acc = account(org)
    event(acc, "Course").save()
    view = acc.calendar.view(start=at(4, 0), end=at(5, 0))
    assert view.count() == 1
    with pytest.raises(ErrorInvalidOperation):
        view.filter(subject="Course").count()


@pytest.mark.parametrize("field", ["uid", "culture", "is_response_requested"])
def test_a_restriction_on_a_property_exchange_does_not_search_is_refused(org, field: str) -> None:  # type: ignore[no-untyped-def]
    # exchangelib's test_queryset_nonsearchable_fields, as it searches anyway.
    acc = account(org)
    value = {"uid": "abc", "culture": "en-GB", "is_response_requested": True}[field]
    model_field = CalendarItem.get_field_by_fieldname(field)
    model_field.is_searchable = True
    try:
        with pytest.raises(ErrorUnsupportedPathForQuery):
            list(acc.calendar.filter(**{field: value}))
    finally:
        model_field.is_searchable = False


def test_a_meeting_response_needs_the_request_it_answers(org) -> None:  # type: ignore[no-untyped-def]
    # exchangelib's test_meeting_request; nothing is ever sent to an emulated mailbox, so no
    # request exists to answer. (A response is saved to Sent Items: the mailbox's own.)
    acc = account(org, mailbox=MASTER, user=MASTER, password=MASTER_PW)
    with pytest.raises(ErrorMissingInformationReferenceItemId):
        AcceptItem(account=acc).send()
    item = event(acc).save()
    with pytest.raises(ErrorItemNotFound):
        AcceptItem(account=acc, reference_item_id=ReferenceItemId(id=item.id)).send()
