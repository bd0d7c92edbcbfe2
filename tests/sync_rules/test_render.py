"""Rendering of platform entries into Outlook fields, the content hash and all-day days."""

from __future__ import annotations

import datetime as dt
import hashlib

import pandas as pd
import pytest

from sync_rules.render import all_day_bounds, all_day_dates, render_entries, render_entry
from sync_rules.rules import load_rules
from sync_rules.vocabulary import MANAGED_FIELDS
from tests.sync_rules.model import platform_entry

RULES = load_rules()
T = pd.Timestamp


def session(**fields) -> dict:
    row = platform_entry(
        1,
        "session:7",
        fields.pop("start", "2026-12-07T09:00Z"),
        fields.pop("end", "2026-12-07T17:00Z"),
        course="Excel Intermediate",
        venue="Leeds Hub",
        venue_address="1 Park Row, Leeds LS1",
        event_ref="EV-7",
        event_url="https://platform.example/events/7",
        delegate_instructions_url="https://platform.example/events/7/delegate.pdf",
        trainer_instructions_url="https://platform.example/events/7/trainer.pdf",
    )
    row.update(fields)
    return row


def test_session_renders_subject_location_and_a_body_with_the_links():
    out = render_entry(session(), RULES)
    assert out["subject"] == "Excel Intermediate — Leeds Hub"
    assert out["location"] == "Leeds Hub, 1 Park Row, Leeds LS1"
    assert out["body"].splitlines() == [
        "Excel Intermediate",
        "When: Mon 7 Dec 2026, 09:00–17:00",
        "Venue: Leeds Hub",
        "Address: 1 Park Row, Leeds LS1",
        "Event page: https://platform.example/events/7",
        "Delegate joining instructions: https://platform.example/events/7/delegate.pdf",
        "Trainer joining instructions: https://platform.example/events/7/trainer.pdf",
    ]
    assert (out["show_as"], out["categories"], out["reminder_minutes"]) == ("Busy", "Training", 15)
    assert out["start"] == T("2026-12-07T09:00Z") and out["all_day"] is False


def test_missing_values_leave_no_dangling_separators_or_empty_lines():
    out = render_entry(
        session(venue=None, venue_address=None, delegate_instructions_url=None), RULES
    )
    assert out["subject"] == "Excel Intermediate"
    assert out["location"] == ""
    assert "Venue" not in out["body"] and "Address" not in out["body"]
    assert "Delegate" not in out["body"] and "Trainer joining" in out["body"]


@pytest.mark.parametrize(
    ("reason", "subject"), [(None, "Unavailable"), ("Annual leave", "Unavailable — Annual leave")]
)
def test_unavailability_renders_as_unavailable_without_links(reason, subject):
    entry = platform_entry(1, "unavailability:3", "2026-12-08T09:00Z", "2026-12-08T12:00Z")
    entry.update(reason=reason, event_url="https://platform.example/should-not-show")
    out = render_entry(entry, RULES)
    assert out["subject"] == subject
    assert out["body"] == "" and out["location"] == ""


def test_templates_come_from_the_rules():
    rules = load_rules(
        overrides={
            "out": {
                "subject": "[{event_ref}] {course}",
                "body": "{when}",
                "show_as": "OOF",
                "categories": ["Courses", "Platform"],
                "reminder_minutes": None,
            }
        }
    )
    out = render_entry(session(), rules)
    assert out["subject"] == "[EV-7] Excel Intermediate"
    assert out["body"] == "Mon 7 Dec 2026, 09:00–17:00"
    assert out["show_as"] == "OOF" and out["categories"] == "Courses;Platform"
    assert out["reminder_minutes"] is None


def test_content_hash_is_stable_and_covers_every_managed_field():
    base = render_entry(session(), RULES)
    assert base["content_hash"] == render_entry(session(), RULES)["content_hash"]
    # Pinned: a changed digest for unchanged input would rewrite every pushed item.
    assert base["content_hash"] == PINNED_HASH
    variants = [
        render_entry(session(course="Excel Advanced"), RULES),
        render_entry(session(venue_address="2 Park Row"), RULES),
        render_entry(session(end="2026-12-07T17:30Z"), RULES),
        render_entry(session(all_day=True), RULES),
        render_entry(session(), load_rules(overrides={"out": {"show_as": "Tentative"}})),
        render_entry(session(), load_rules(overrides={"out": {"categories": []}})),
        render_entry(session(), load_rules(overrides={"out": {"reminder_minutes": 30}})),
    ]
    assert len({v["content_hash"] for v in variants} | {base["content_hash"]}) == 8


PINNED_HASH = "c9b2f258f40a1b63e2943ee71872a974c512645f0bf95070a3cfdaf95ec01bbd"


def test_session_spanning_midnight_shows_both_dates_in_the_display_timezone():
    out = render_entry(session(start="2026-11-28T22:00Z", end="2026-11-29T02:00Z"), RULES)
    assert "When: Sat 28 Nov 2026 22:00 – Sun 29 Nov 2026 02:00" in out["body"]
    # In summer the same UTC times read an hour later in London.
    out = render_entry(session(start="2026-06-27T23:00Z", end="2026-06-28T02:00Z"), RULES)
    assert "When: Sun 28 Jun 2026, 00:00–03:00" in out["body"]


def test_display_timezone_is_a_rule_setting():
    rules = load_rules(overrides={"timezone": "America/New_York"})
    out = render_entry(session(), rules)
    assert "When: Mon 7 Dec 2026, 04:00–12:00" in out["body"]
    assert out["start"] == T("2026-12-07T09:00Z")  # stored times stay UTC


@pytest.mark.parametrize(
    ("start", "end", "utc_start", "utc_end", "when"),
    [
        # Clocks go forward on 29 Mar 2026: that day has 23 hours.
        ("2026-03-29T00:00Z", "2026-03-29T23:00Z", "2026-03-29T00:00Z", "2026-03-29T23:00Z",
         "Sun 29 Mar 2026 (all day)"),
        # Clocks go back on 25 Oct 2026: local midnight is 23:00 UTC the day before.
        ("2026-10-24T23:00Z", "2026-10-26T00:00Z", "2026-10-24T23:00Z", "2026-10-26T00:00Z",
         "Sun 25 Oct 2026 (all day)"),
        # Non-midnight times widen to whole local days.
        ("2026-07-01T08:00Z", "2026-07-03T12:00Z", "2026-06-30T23:00Z", "2026-07-03T23:00Z",
         "Wed 1 Jul 2026 – Fri 3 Jul 2026 (all day)"),
        # A zero-length all-day entry still covers its day.
        ("2026-12-01T00:00Z", "2026-12-01T00:00Z", "2026-12-01T00:00Z", "2026-12-02T00:00Z",
         "Tue 1 Dec 2026 (all day)"),
    ],
)  # fmt: skip
def test_all_day_entries_are_whole_local_days(start, end, utc_start, utc_end, when):
    out = render_entry(session(start=start, end=end, all_day=True), RULES)
    assert (out["start"], out["end"]) == (T(utc_start), T(utc_end))
    assert out["all_day"] is True
    assert f"When: {when}" in out["body"]


def test_all_day_helpers_for_the_connector_round_trip():
    first, last = all_day_dates(T("2026-10-24T23:00Z"), T("2026-10-27T00:00Z"), "Europe/London")
    assert (first, last) == (dt.date(2026, 10, 25), dt.date(2026, 10, 26))
    assert all_day_bounds(first, last, "Europe/London") == (
        T("2026-10-24T23:00Z"),
        T("2026-10-27T00:00Z"),
    )


def test_rendering_a_frame_matches_rendering_rows_one_by_one():
    rows = [
        session(),
        session(
            entry_key="session:8", venue=None, start="2026-12-31T23:30Z", end="2027-01-01T01:00Z"
        ),
        platform_entry(
            1, "unavailability:1", "2026-12-24T00:00Z", "2026-12-27T00:00Z", all_day=True
        ),
    ]
    frame = pd.DataFrame(rows)
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    frame["end"] = pd.to_datetime(frame["end"], utc=True)
    rendered = render_entries(frame, RULES)
    for i, row in enumerate(rows):
        one = render_entry(row, RULES)
        assert rendered.iloc[i]["content_hash"] == one["content_hash"]
        assert rendered.iloc[i]["body"] == one["body"]


def canonical_digest(row: pd.Series) -> str:
    """The content hash as `sync_rules.render` documents it, written out independently: the
    sha256 of "v1" and the managed fields (times as UTC epoch seconds, all-day as 0/1, no
    reminder as empty), separated by U+001F."""
    text = {
        "start": str(int(row["start"].timestamp())),
        "end": str(int(row["end"].timestamp())),
        "all_day": "1" if row["all_day"] else "0",
        "reminder_minutes": ""
        if pd.isna(row["reminder_minutes"])
        else str(row["reminder_minutes"]),
    }
    fields = [text.get(name, row[name]) for name in MANAGED_FIELDS]
    return hashlib.sha256("\x1f".join(["v1", *fields]).encode("utf-8")).hexdigest()


@pytest.mark.parametrize("reminder", [15, None])
def test_content_hash_is_the_digest_of_the_canonical_form_of_the_managed_fields(reminder):
    rules = load_rules(overrides={"out": {"reminder_minutes": reminder}})
    rows = [
        session(),
        session(entry_key="session:9", venue=None, all_day=True),
        platform_entry(1, "unavailability:2", "2026-12-24T10:00Z", "2026-12-24T12:00Z"),
    ]
    frame = pd.DataFrame(rows)
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    frame["end"] = pd.to_datetime(frame["end"], utc=True)
    rendered = render_entries(frame, rules)
    assert [canonical_digest(row) for _, row in rendered.iterrows()] == list(
        rendered["content_hash"]
    )
    hashed_only = render_entries(frame, rules, text=False)
    assert "body" not in hashed_only.columns
    assert list(hashed_only["content_hash"]) == list(rendered["content_hash"])
    # A row's digest does not depend on the other rows rendered with it.
    alone = render_entries(frame.iloc[[1]], rules)
    assert alone["content_hash"].iloc[0] == rendered["content_hash"].iloc[1]
