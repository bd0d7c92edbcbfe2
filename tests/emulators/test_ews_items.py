"""Calendar items on the EWS emulator through exchangelib: CRUD, conflicts, series, sync."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone, ExtendedProperty, HTMLBody
from exchangelib.errors import (
    ErrorInvalidSyncStateData,
    ErrorInvalidValueForProperty,
    ErrorIrresolvableConflict,
    ErrorSchemaValidation,
)
from exchangelib.items import (
    AUTO_RESOLVE,
    HARD_DELETE,
    MOVE_TO_DELETED_ITEMS,
    NEVER_OVERWRITE,
    SOFT_DELETE,
)
from exchangelib.recurrence import DailyPattern, DailyRegeneration, Recurrence, WeeklyPattern
from exchangelib.services import SyncFolderItems
from lxml import etree

from .conftest import LONDON, MASTER, MASTER_PW, TRAINER, TRAINER_PW, account, at, event

UTC = EWSTimeZone("UTC")


class SyncId(ExtendedProperty):
    """The id a sync tool stamps on the events it owns."""

    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_name = "TrainerSyncId"
    property_type = "String"


@pytest.fixture(scope="module", autouse=True)
def _registered():
    CalendarItem.register("sync_id", SyncId)
    yield
    CalendarItem.deregister("sync_id")


def test_create_read_update_delete_with_extended_property(org):
    acc = account(org)
    item = event(
        acc,
        "Excel basics",
        sync_id="lesson-42",
        body=HTMLBody("<p>Room 1</p>"),
        location="Leeds",
        categories=["Training"],
        legacy_free_busy_status="OOF",
        sensitivity="Private",
        reminder_is_set=True,
        reminder_minutes_before_start=30,
    )
    item.save()
    got = acc.calendar.get(id=item.id)
    assert (got.subject, got.sync_id, got.location, got.categories) == (
        "Excel basics",
        "lesson-42",
        "Leeds",
        ["Training"],
    )
    assert got.body == "<p>Room 1</p>" and got.legacy_free_busy_status == "OOF"
    assert got.sensitivity == "Private" and got.reminder_minutes_before_start == 30
    assert got.start == at(4, 9) and got.type == "Single"

    found = list(acc.calendar.filter(sync_id="lesson-42"))
    assert [f.id for f in found] == [item.id]
    assert list(acc.calendar.filter(sync_id="other")) == []

    got.subject = "Excel advanced"
    got.sync_id = "lesson-43"
    got.save(update_fields=["subject", "sync_id"])
    stored = org.control.items(TRAINER)[0]
    assert stored["subject"] == "Excel advanced"
    assert stored["extended_properties"] == {"TrainerSyncId": "lesson-43"}

    got.sync_id = None
    got.save(update_fields=["sync_id"])
    assert org.control.items(TRAINER)[0]["extended_properties"] == {}
    assert list(acc.calendar.filter(sync_id__exists=True)) == []

    got.delete()
    assert org.control.items(TRAINER) == []


def test_bulk_operations(org):
    acc = account(org)
    created = acc.bulk_create(
        folder=acc.calendar, items=[event(acc, f"B{i}", day=4 + i) for i in range(3)]
    )
    items = list(acc.fetch(ids=created))
    for it in items:
        it.subject += "!"
    updated = acc.bulk_update(items=[(it, ["subject"]) for it in items])
    assert [ck for _, ck in updated] != [c.changekey for c in created]
    assert acc.bulk_delete(ids=items[:1], delete_type=HARD_DELETE) == [True]
    assert sorted(i["subject"] for i in org.control.items(TRAINER)) == ["B1!", "B2!"]


def test_refused_item_in_a_batch(org):
    acc = account(org)
    org.control.faults(refuse=[{"subject_matches": "^Bad", "response_code": "ErrorItemSave"}])
    results = acc.bulk_create(
        folder=acc.calendar, items=[event(acc, s) for s in ("Good 1", "Bad one", "Good 2")]
    )
    assert [type(r).__name__ for r in results] == [
        "BulkCreateResult",
        "ErrorItemSave",
        "BulkCreateResult",
    ]
    assert sorted(i["subject"] for i in org.control.items(TRAINER)) == ["Good 1", "Good 2"]


def test_change_keys_and_stale_conflicts(org):
    acc = account(org)
    item = event(acc, "v1")
    item.save()
    first_key = item.changekey
    stale = acc.calendar.get(id=item.id)
    item.subject = "v2"
    item.save(update_fields=["subject"])
    assert item.changekey != first_key

    stale.subject = "from stale copy"
    with pytest.raises(ErrorIrresolvableConflict):
        stale.save(update_fields=["subject"], conflict_resolution=NEVER_OVERWRITE)
    with pytest.raises(ErrorIrresolvableConflict):
        stale.save(update_fields=["subject"], conflict_resolution=AUTO_RESOLVE)
    stale.location = "Elsewhere"  # a field nobody else changed merges under AutoResolve
    stale.save(update_fields=["location"], conflict_resolution=AUTO_RESOLVE)
    stored = org.control.items(TRAINER)[0]
    assert (stored["subject"], stored["location"]) == ("v2", "Elsewhere")
    stale.save(update_fields=["subject"], conflict_resolution="AlwaysOverwrite")
    assert org.control.items(TRAINER)[0]["subject"] == "from stale copy"


def test_weekly_series_with_modified_and_deleted_occurrence_across_dst(org):
    acc = account(org)
    series = CalendarItem(
        folder=acc.calendar,
        subject="Weekly",
        start=EWSDateTime(2026, 3, 13, 9, tzinfo=LONDON),
        end=EWSDateTime(2026, 3, 13, 10, tzinfo=LONDON),
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[5]), start=dt.date(2026, 3, 13), number=6
        ),
    )
    series.save()
    window = (EWSDateTime(2026, 3, 1, tzinfo=LONDON), EWSDateTime(2026, 5, 1, tzinfo=LONDON))
    occ = list(acc.calendar.view(*window))
    # Clocks go forward on 29 March: still 09:00 London time, one hour earlier in UTC.
    assert [o.start.astimezone(LONDON).hour for o in occ] == [9] * 6
    assert occ[0].start.astimezone(UTC).hour == 9 and occ[3].start.astimezone(UTC).hour == 8
    assert {o.type for o in occ} == {"Occurrence"}

    moved = occ[1]
    moved.subject = "Weekly (moved)"
    moved.start += dt.timedelta(hours=2)
    moved.end += dt.timedelta(hours=2)
    moved.save(update_fields=["subject", "start", "end"])
    occ[3].delete()

    again = list(acc.calendar.view(*window))
    assert len(again) == 5
    assert [(o.subject, o.type) for o in again][1] == ("Weekly (moved)", "Exception")
    assert again[1].start.astimezone(LONDON).hour == 11
    assert acc.calendar.get(id=again[1].id).subject == "Weekly (moved)"
    master = acc.calendar.get(id=series.id)
    assert master.type == "RecurringMaster"
    assert len(master.modified_occurrences) == 1 and len(master.deleted_occurrences) == 1

    truncated = list(acc.calendar.view(*window, max_items=2))
    assert len(truncated) == 2


def test_daily_series_with_end_date(org):
    acc = account(org)
    CalendarItem(
        folder=acc.calendar,
        subject="Bootcamp",
        start=at(11, 9),
        end=at(11, 17),
        recurrence=Recurrence(
            pattern=DailyPattern(interval=2),
            start=dt.date(2026, 5, 11),
            end=dt.date(2026, 5, 17),
        ),
    ).save()
    days = [o.start.day for o in acc.calendar.view(at(1, 0), at(31, 0))]
    assert days == [11, 13, 15, 17]


def test_all_day_item(org):
    acc = account(org)
    CalendarItem(
        folder=acc.calendar,
        subject="Conference",
        start=dt.date(2026, 6, 1),
        end=dt.date(2026, 6, 2),
        is_all_day=True,
    ).save()
    (got,) = acc.calendar.view(at(1, 0, month=6), at(30, 0, month=6))
    assert got.is_all_day is True
    assert (got.start, got.end) == (dt.date(2026, 6, 1), dt.date(2026, 6, 2))


def test_move_to_deleted_items_is_visible_in_control_api(org):
    acc = account(org)
    item, other = event(acc, "Cancelled course"), event(acc, "Soft deleted")
    item.save()
    other.save()
    # exchangelib's item.move_to_trash() then opens the Deleted Items folder, which a calendar
    # delegate may not do (as on Exchange); the delete itself is what matters here.
    assert acc.bulk_delete(ids=[item], delete_type=MOVE_TO_DELETED_ITEMS) == [True]
    assert acc.bulk_delete(ids=[other], delete_type=SOFT_DELETE) == [True]
    trashed, soft = org.control.items(TRAINER)
    assert trashed["deleted"] is True and trashed["folder"] == "deleteditems"
    assert soft["deleted"] is True and soft["deleted_how"] == "SoftDelete"
    assert org.control.items(TRAINER, include_deleted=False) == []
    assert list(acc.calendar.all()) == []


def test_sync_folder_items_reports_exactly_the_changes_since_its_token(org):
    acc = account(org)
    keep, change, drop = (event(acc, s) for s in ("keep", "change", "drop"))
    for it in (keep, change, drop):
        it.save()
    first = list(acc.calendar.sync_items())
    assert sorted((c, i.subject) for c, i in first) == [
        ("create", "change"),
        ("create", "drop"),
        ("create", "keep"),
    ]
    token = acc.calendar.item_sync_state

    change.subject = "changed"
    change.save(update_fields=["subject"])
    drop_id = drop.id
    drop.delete()
    added = event(acc, "added")
    added.save()
    changes = list(acc.calendar.sync_items(sync_state=token))
    summary = sorted((c, getattr(i, "subject", None) or i.id) for c, i in changes)
    assert summary == sorted([("update", "changed"), ("delete", drop_id), ("create", "added")])
    assert list(acc.calendar.sync_items(sync_state=acc.calendar.item_sync_state)) == []


def test_sync_folder_items_pages_and_rejects_bad_tokens(org):
    acc = account(org)
    for i in range(5):
        event(acc, f"e{i}").save()
    svc = SyncFolderItems(account=acc)
    page = list(
        svc.call(
            folder=acc.calendar,
            shape="IdOnly",
            additional_fields=None,
            sync_state=None,
            ignore=None,
            max_changes_returned=2,
            sync_scope=None,
        )
    )
    assert len(page) == 2 and svc.includes_last_item_in_range is False
    rest = list(acc.calendar.sync_items(sync_state=svc.sync_state))
    assert len(rest) == 3
    org.control.reset_counters()
    fresh = account(org).calendar
    assert len(list(fresh.sync_items(max_changes_returned=2))) == 5
    assert org.control.counters()["by_operation"]["SyncFolderItems"] == 3
    with pytest.raises(ErrorInvalidSyncStateData):
        list(acc.calendar.sync_items(sync_state="bm90IGEgdG9rZW4="))


def test_a_task_pattern_on_a_calendar_item_is_refused_at_creation(org):
    # Regeneration patterns belong to tasks (TaskRecurrenceType); a calendar item's recurrence
    # has none. The schema refuses them, and so does the emulator without one.
    acc = account(org)
    unsupported = Recurrence(pattern=DailyRegeneration(interval=1), start=dt.date(2026, 5, 4))
    with pytest.raises((ErrorSchemaValidation, ErrorInvalidValueForProperty)):
        event(acc, "Regenerating", recurrence=unsupported).save()
    assert org.control.items(TRAINER) == []


def test_text_body_is_derived_from_the_stored_body(org):
    acc = account(org)
    html = (
        "<html><head><style>p { color: red; }</style></head><body>"
        "<p>Room&nbsp;1 &amp; 2</p><div>Bring  a <b>laptop</b><br>and a charger</div>"
        "</body></html>"
    )
    rich = event(acc, "HTML", body=HTMLBody(html))
    plain = event(acc, "Text", day=5, body="Line 1\nLine 2")
    bare = event(acc, "None", day=6)
    for item in (rich, plain, bare):
        item.save()

    got = acc.calendar.get(id=rich.id)
    assert got.text_body == "Room 1 & 2\nBring a laptop\nand a charger"
    assert got.body == html  # the body itself is kept as written
    assert acc.calendar.get(id=plain.id).text_body == "Line 1\nLine 2"
    assert acc.calendar.get(id=bare.id).text_body is None
    only = list(acc.calendar.filter(subject="HTML").only("subject"))
    assert only[0].text_body is None  # derived only when asked for

    got.body = HTMLBody("<p>Moved to <i>Room 3</i></p>")
    got.save(update_fields=["body"])
    assert acc.calendar.get(id=rich.id).text_body == "Moved to Room 3"


def test_last_modified_name_is_whoever_saved_the_item_last(org):
    org.control.add_account(TRAINER, TRAINER_PW, name="Trainer One")  # a display name
    master = account(org)
    item = event(master, "Excel basics")
    item.save()
    assert master.calendar.get(id=item.id).last_modified_name == "master"

    own = account(org, user=TRAINER, password=TRAINER_PW)
    edited = own.calendar.get(id=item.id)
    edited.start, edited.end = at(4, 11), at(4, 12)
    edited.save(update_fields=["start", "end"])

    got = master.calendar.get(id=item.id)
    assert got.last_modified_name == "Trainer One"
    assert got.last_modified_time >= got.datetime_created
    (shown,) = [i for i in org.control.items(TRAINER) if i["id"] == item.id]
    assert shown["last_modified_name"] == "Trainer One"


def test_last_modified_name_comes_only_when_asked_for(org):
    master = account(org)
    item = event(master)
    item.save()
    # exchangelib asks for IdOnly plus the fields it names: without the field, no element.
    assert master.calendar.all().only("subject").get(id=item.id).last_modified_name is None
    assert master.calendar.all().only("last_modified_name").get(id=item.id).last_modified_name


_M = "http://schemas.microsoft.com/exchange/services/2006/messages"
_T = "http://schemas.microsoft.com/exchange/services/2006/types"


def _get_item_children(org, item_id: str, shape: str) -> list[str]:
    """The element names of one item, as GetItem returns it for the given ItemShape."""
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="{_M}" xmlns:t="{_T}">
 <s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>
 <s:Body><m:GetItem><m:ItemShape>{shape}</m:ItemShape>
  <m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds></m:GetItem></s:Body></s:Envelope>"""
    answer = requests.post(org.url, data=body.encode(), auth=(MASTER, MASTER_PW), timeout=10)
    assert answer.status_code == 200, answer.text
    (item,) = etree.fromstring(answer.content).iterfind(f".//{{{_T}}}CalendarItem")
    return [etree.QName(c).localname for c in item]


def test_last_modified_name_in_all_properties_and_when_named_in_schema_order(org):
    item = event(account(org))
    item.save()
    default = _get_item_children(org, item.id, "<t:BaseShape>Default</t:BaseShape>")
    assert "LastModifiedName" not in default and "LastModifiedTime" in default
    everything = _get_item_children(org, item.id, "<t:BaseShape>AllProperties</t:BaseShape>")
    named = _get_item_children(
        org,
        item.id,
        "<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
        '<t:FieldURI FieldURI="item:LastModifiedTime"/>'
        '<t:FieldURI FieldURI="item:LastModifiedName"/></t:AdditionalProperties>',
    )
    assert named == ["ItemId", "LastModifiedName", "LastModifiedTime"]
    at_name = everything.index("LastModifiedName")
    assert everything[at_name - 1 : at_name + 2] == [
        "EffectiveRights",
        "LastModifiedName",
        "LastModifiedTime",
    ]
