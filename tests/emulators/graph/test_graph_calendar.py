"""calendarView, events CRUD, extended properties, change keys and delta, as a client sees them."""

from __future__ import annotations

import pytest

from tests.emulators.graph.conftest import (
    TAG_ID,
    TRAINER,
    app_session,
    event,
    user_session,
    view,
)

EXPAND = f"singleValueExtendedProperties($filter=id eq '{TAG_ID}')"


def _weekly_series(me, graph) -> dict:
    body = event(
        "Weekly",
        "2026-12-01T09:00:00",
        "2026-12-01T10:00:00",
        tz="W. Europe Standard Time",
        recurrence={
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday", "thursday"]},
            "range": {"type": "numbered", "startDate": "2026-12-01", "numberOfOccurrences": 4},
        },
    )
    r = me.post(f"{graph.url}/me/events", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_calendar_view_expands_series_with_exceptions_and_deletions(world):
    me = user_session(world)
    _weekly_series(me, world)
    s = app_session(world)
    occ = view(s, world, TRAINER, "2026-11-30T00:00:00Z", "2026-12-31T00:00:00Z", **{"$top": 2})
    assert [o["start"]["dateTime"][:16] for o in occ] == [
        "2026-12-01T08:00",
        "2026-12-03T08:00",
        "2026-12-08T08:00",
        "2026-12-10T08:00",
    ]
    assert {o["type"] for o in occ} == {"occurrence"}
    # The trainer moves the second occurrence and deletes the third.
    moved = me.patch(
        f"{world.url}/me/events/{occ[1]['id']}",
        json={
            "start": {"dateTime": "2026-12-03T14:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-03T15:00:00", "timeZone": "UTC"},
        },
    )
    assert moved.status_code == 200 and moved.json()["type"] == "exception"
    assert me.delete(f"{world.url}/me/events/{occ[2]['id']}").status_code == 204
    after = view(s, world, TRAINER, "2026-11-30T00:00:00Z", "2026-12-31T00:00:00Z")
    assert [(o["start"]["dateTime"][:16], o["type"]) for o in after] == [
        ("2026-12-01T08:00", "occurrence"),
        ("2026-12-03T14:00", "exception"),
        ("2026-12-10T08:00", "occurrence"),
    ]


@pytest.mark.parametrize(
    ("pattern", "days"),
    [
        # The second Tuesday of each month, and the last Friday.
        ({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["tuesday"], "index": "second"},
         ["2026-12-08", "2027-01-12", "2027-02-09"]),
        ({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"},
         ["2026-12-25", "2027-01-29", "2027-02-26"]),
        ({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 13, "month": 12},
         ["2026-12-13", "2027-12-13", "2028-12-13"]),
        ({"type": "relativeYearly", "interval": 1, "daysOfWeek": ["monday"], "index": "first",
          "month": 12}, ["2026-12-07", "2027-12-06", "2028-12-04"]),
    ],
    ids=["second-tuesday", "last-friday", "absolute-yearly", "relative-yearly"],
)  # fmt: skip
def test_monthly_and_yearly_patterns_fall_on_their_days(world, pattern, days):
    me = user_session(world)
    body = event(
        "Series", "2026-12-01T09:00:00", "2026-12-01T10:00:00", tz="UTC",
        recurrence={"pattern": pattern,
                    "range": {"type": "numbered", "startDate": "2026-12-01",
                              "numberOfOccurrences": 3}},
    )  # fmt: skip
    assert me.post(f"{world.url}/me/events", json=body).status_code == 201
    occ = view(app_session(world), world, TRAINER, "2026-11-30T00:00:00Z", "2029-01-01T00:00:00Z")
    assert [o["start"]["dateTime"][:10] for o in occ] == days


def test_all_day_events_must_start_at_local_midnight(world):
    s = app_session(world)
    ok = s.post(
        f"{world.url}/users/{TRAINER}/events",
        json=event(
            "Off", "2026-12-02T00:00:00", "2026-12-03T00:00:00", "Europe/Berlin", isAllDay=True
        ),
    )
    assert ok.status_code == 201
    assert ok.json()["start"] == {"dateTime": "2026-12-01T23:00:00.0000000", "timeZone": "UTC"}
    bad = s.post(
        f"{world.url}/users/{TRAINER}/events",
        json=event("Off", "2026-12-02T09:00:00", "2026-12-03T00:00:00", isAllDay=True),
    )
    assert bad.status_code == 400


def test_extended_property_select_expand_and_filter(world):
    s = app_session(world)
    tagged = event("Course", "2026-12-01T09:00:00", "2026-12-01T17:00:00")
    tagged["singleValueExtendedProperties"] = [{"id": TAG_ID, "value": "S-1|abc"}]
    s.post(f"{world.url}/users/{TRAINER}/events", json=tagged)
    s.post(
        f"{world.url}/users/{TRAINER}/events",
        json=event("Own", "2026-12-01T18:00:00", "2026-12-01T19:00:00"),
    )
    rows = view(
        s,
        world,
        TRAINER,
        "2026-12-01T00:00:00Z",
        "2026-12-02T00:00:00Z",
        **{"$select": "subject,start,end", "$expand": EXPAND},
    )
    assert [r.get("singleValueExtendedProperties") for r in rows] == [
        [{"id": TAG_ID, "value": "S-1|abc"}],
        None,
    ]
    assert set(rows[1]) == {"@odata.etag", "id", "subject", "start", "end"}
    found = s.get(
        f"{world.url}/users/{TRAINER}/events",
        params={
            "$filter": "singleValueExtendedProperties/any("
            f"ep: ep/id eq '{TAG_ID}' and ep/value eq 'S-1|abc')"
        },
    )
    assert [e["subject"] for e in found.json()["value"]] == ["Course"]


def test_if_match_with_a_stale_change_key_is_412(world):
    s = app_session(world)
    created = s.post(
        f"{world.url}/users/{TRAINER}/events",
        json=event("A", "2026-12-01T09:00:00", "2026-12-01T10:00:00"),
    ).json()
    url = f"{world.url}/users/{TRAINER}/events/{created['id']}"
    first = s.patch(url, json={"subject": "B"}, headers={"If-Match": created["@odata.etag"]})
    assert first.status_code == 200 and first.json()["changeKey"] != created["changeKey"]
    stale = s.patch(url, json={"subject": "C"}, headers={"If-Match": created["@odata.etag"]})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "ErrorIrresolvableConflict"


def test_delete_moves_to_deleted_items_and_permanent_delete_purges(world):
    s = app_session(world)
    ids = [
        s.post(
            f"{world.url}/users/{TRAINER}/events",
            json=event(n, "2026-12-01T09:00:00", "2026-12-01T10:00:00"),
        ).json()["id"]
        for n in ("soft", "hard")
    ]
    assert s.delete(f"{world.url}/users/{TRAINER}/events/{ids[0]}").status_code == 204
    r = s.post(f"{world.url}/users/{TRAINER}/events/{ids[1]}/permanentDelete")
    assert r.status_code == 204
    folders = {i["subject"]: i["folder"] for i in world.control.items(TRAINER)}
    assert folders == {"soft": "deleteditems", "hard": "purged"}
    again = s.delete(f"{world.url}/users/{TRAINER}/events/{ids[0]}")
    assert again.status_code == 404 and again.json()["error"]["code"] == "ErrorItemNotFound"


def _delta(s, url, params=None):
    values = []
    while True:
        r = s.get(url, params=params)
        assert r.status_code == 200, r.text
        values += r.json()["value"]
        params = None
        if "@odata.nextLink" in r.json():
            url = r.json()["@odata.nextLink"]
            continue
        return values, r.json()["@odata.deltaLink"]


def test_delta_rounds_report_changes_removals_and_expire(world):
    s = app_session(world)
    me = user_session(world)
    for n in range(3):
        me.post(
            f"{world.url}/me/events",
            json=event(f"E{n}", f"2026-12-0{n + 1}T09:00:00", f"2026-12-0{n + 1}T10:00:00"),
        )
    url = f"{world.url}/users/{TRAINER}/calendarView/delta"
    window = {"startDateTime": "2026-11-30T00:00:00Z", "endDateTime": "2026-12-31T00:00:00Z"}
    s.headers["Prefer"] += ", odata.maxpagesize=2"
    first, link = _delta(s, url, window)
    assert sorted(v["subject"] for v in first) == ["E0", "E1", "E2"]
    world.control.reset_counters()
    idle, link = _delta(s, link)
    assert idle == [] and world.control.counters()["total"] == 1
    by_subject = {v["subject"]: v["id"] for v in first}
    me.patch(f"{world.url}/me/events/{by_subject['E0']}", json={"subject": "E0*"})
    me.delete(f"{world.url}/me/events/{by_subject['E1']}")
    changes, link = _delta(s, link)
    assert {(v["id"], v.get("subject"), "@removed" in v) for v in changes} == {
        (by_subject["E0"], "E0*", False),
        (by_subject["E1"], None, True),
    }
    world.control.expire_delta(TRAINER)
    gone = s.get(link)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "SyncStateNotFound"


def test_a_repeated_transaction_id_answers_with_the_first_event(world):
    s = app_session(world)
    body = event("Course", "2026-12-01T09:00:00", "2026-12-01T10:00:00", transactionId="tx-1")
    first = s.post(f"{world.url}/users/{TRAINER}/events", json=body)
    again = s.post(f"{world.url}/users/{TRAINER}/events", json=body)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["changeKey"] == first.json()["changeKey"]
    assert first.json()["transactionId"] == "tx-1"
    assert [i["subject"] for i in world.control.items(TRAINER)] == ["Course"]
    changed = s.patch(
        f"{world.url}/users/{TRAINER}/events/{first.json()['id']}", json={"transactionId": "tx-2"}
    )
    assert changed.status_code == 400
    # Once the event is deleted, the same transactionId makes a new one.
    assert s.delete(f"{world.url}/users/{TRAINER}/events/{first.json()['id']}").status_code == 204
    anew = s.post(f"{world.url}/users/{TRAINER}/events", json=body)
    assert anew.status_code == 201 and anew.json()["id"] != first.json()["id"]
    plain = event("Own", "2026-12-02T09:00:00", "2026-12-02T10:00:00")
    assert "transactionId" not in s.post(f"{world.url}/users/{TRAINER}/events", json=plain).json()


def test_events_keep_their_last_change_time_and_organizer(world):
    s = app_session(world)  # the app writes to the trainer's calendar, as the sync does
    made = s.post(
        f"{world.url}/users/{TRAINER}/events",
        json=event("Course", "2026-12-02T09:00:00", "2026-12-02T10:00:00"),
    )
    assert made.status_code == 201, made.text
    first = made.json()["lastModifiedDateTime"]
    # Graph has no last modifier's name; the organizer is the calendar's owner, whoever wrote.
    assert made.json()["organizer"]["emailAddress"]["address"] == TRAINER

    me = user_session(world)
    moved = me.patch(
        f"{world.url}/me/events/{made.json()['id']}",
        json={
            "start": {"dateTime": "2026-12-02T11:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-02T12:00:00", "timeZone": "UTC"},
        },
    )
    assert moved.status_code == 200, moved.text
    (seen,) = view(
        s,
        world,
        TRAINER,
        "2026-12-01T00:00:00Z",
        "2026-12-31T00:00:00Z",
        **{"$select": "subject,lastModifiedDateTime,organizer"},
    )
    assert seen["lastModifiedDateTime"] >= first
    assert seen["organizer"]["emailAddress"]["address"] == TRAINER
    assert "body" not in seen  # only what was selected
