"""Every recurrence pattern exchangelib has, with each kind of range, and a modified and a
deleted occurrence of each, after exchangelib's test_all_recurring_pattern_types and
test_change_occurrence (written against real Exchange).

The dates a series falls on are checked against dateutil's rrule, an implementation of the
same calendar arithmetic (RFC 5545) that shares nothing with the emulator's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from dateutil import rrule
from exchangelib import CalendarItem, EWSDateTime
from exchangelib.fields import (
    MONDAY,
    NOVEMBER,
    THIRD,
    WEDNESDAY,
    WEEK_DAY,
    WEEKEND_DAY,
)
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    NoEndPattern,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)

from .conftest import LONDON, account

START = EWSDateTime(2016, 1, 1, 8, tzinfo=LONDON)
END = EWSDateTime(2016, 1, 1, 10, tzinfo=LONDON)
WEEKDAYS = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR)

# exchangelib's own list of patterns, each with the same rule written for rrule.
PATTERNS: list[tuple[Any, dict[str, Any]]] = [
    (AbsoluteYearlyPattern(day_of_month=13, month=NOVEMBER),
     {"freq": rrule.YEARLY, "bymonth": 11, "bymonthday": 13}),
    (RelativeYearlyPattern(weekday=1, week_number=THIRD, month=11),
     {"freq": rrule.YEARLY, "bymonth": 11, "byweekday": rrule.MO(+3)}),
    (RelativeYearlyPattern(weekday=WEEKEND_DAY, week_number=3, month=11),
     {"freq": rrule.YEARLY, "bymonth": 11, "byweekday": (rrule.SA, rrule.SU), "bysetpos": 3}),
    (AbsoluteMonthlyPattern(interval=3, day_of_month=13),
     {"freq": rrule.MONTHLY, "interval": 3, "bymonthday": 13}),
    (RelativeMonthlyPattern(interval=3, weekday=2, week_number=3),
     {"freq": rrule.MONTHLY, "interval": 3, "byweekday": rrule.TU(+3)}),
    (RelativeMonthlyPattern(interval=3, weekday=WEEK_DAY, week_number=3),
     {"freq": rrule.MONTHLY, "interval": 3, "byweekday": WEEKDAYS, "bysetpos": 3}),
    (RelativeMonthlyPattern(interval=1, weekday=5, week_number=5),  # the last Friday
     {"freq": rrule.MONTHLY, "byweekday": rrule.FR(-1)}),
    (WeeklyPattern(interval=3, weekdays=[MONDAY, WEDNESDAY], first_day_of_week=1),
     {"freq": rrule.WEEKLY, "interval": 3, "byweekday": (rrule.MO, rrule.WE), "wkst": rrule.MO}),
    (DailyPattern(interval=1), {"freq": rrule.DAILY}),
]  # fmt: skip
IDS = [f"{type(p).__name__}-{n}" for n, (p, _) in enumerate(PATTERNS)]
RANGES = {
    "numbered": {"number": 4},
    "end-dated": {"end": dt.date(2016, 12, 31)},
    "no-end": {},
}
# How far the views look: four years of a yearly series, one of the others (short enough that
# a daily series without an end stays a few hundred items).
HORIZONS = {rrule.YEARLY: dt.date(2019, 12, 31), rrule.MONTHLY: dt.date(2016, 12, 31)}


def _expected(rule: dict[str, Any], count: int | None, until: dt.date) -> list[dt.date]:
    kwargs = {k: v for k, v in rule.items() if k != "freq"}
    days = rrule.rrule(rule["freq"], dtstart=dt.datetime(2016, 1, 1, 8), count=count, **kwargs)
    # A count and an end together are not RFC 5545's: the end cuts the counted ones here.
    return [
        d.date()
        for d in days.between(
            dt.datetime(2016, 1, 1), dt.datetime.combine(until, dt.time(23, 59)), inc=True
        )
    ]


def _horizon(rule: dict[str, Any]) -> dt.date:
    return HORIZONS.get(rule["freq"], dt.date(2016, 6, 30))


def _window(rule: dict[str, Any]) -> tuple[EWSDateTime, EWSDateTime]:
    last = _horizon(rule) + dt.timedelta(days=1)
    return START - dt.timedelta(days=1), EWSDateTime(last.year, last.month, last.day, tzinfo=LONDON)


@pytest.mark.parametrize("range_name", list(RANGES))
@pytest.mark.parametrize(("pattern", "rule"), PATTERNS, ids=IDS)
def test_every_pattern_and_range_round_trips_and_falls_on_its_dates(
    org: Any, pattern: Any, rule: dict[str, Any], range_name: str
) -> None:
    acc = account(org)
    recurrence = Recurrence(pattern=pattern, start=START.date(), **RANGES[range_name])
    master = CalendarItem(
        folder=acc.calendar, subject="Series", start=START, end=END, recurrence=recurrence
    ).save()
    master.refresh()
    assert master.recurrence.pattern == pattern
    # The range's dates come back as dates, read with the offset Exchange writes.
    assert type(master.recurrence.boundary.start) is not dt.datetime
    assert master.recurrence.boundary.start == START.date()
    if range_name == "no-end":
        assert isinstance(master.recurrence.boundary, NoEndPattern)

    count = RANGES[range_name].get("number")
    until = min(RANGES[range_name].get("end", _horizon(rule)), _horizon(rule))
    seen = [i.start.astimezone(LONDON).date() for i in acc.calendar.view(*_window(rule))]
    assert seen == _expected(rule, count, until)


@pytest.mark.parametrize(("pattern", "rule"), PATTERNS, ids=IDS)
def test_a_modified_and_a_deleted_occurrence_of_every_pattern(
    org: Any, pattern: Any, rule: dict[str, Any]
) -> None:
    acc = account(org)
    recurrence = Recurrence(pattern=pattern, start=START.date(), number=4)
    master = CalendarItem(
        folder=acc.calendar, subject="Series", start=START, end=END, recurrence=recurrence
    ).save()
    window = _window(rule)
    occurrences = list(acc.calendar.view(*window))
    expected = _expected(rule, 4, _horizon(rule))
    assert len(occurrences) == 4

    moved = occurrences[1]
    moved.subject, moved.start, moved.end = (
        "Series (moved)", moved.start + dt.timedelta(hours=3), moved.end + dt.timedelta(hours=3)
    )  # fmt: skip
    moved.save(update_fields=["subject", "start", "end"])
    occurrences[2].delete()

    again = list(acc.calendar.view(*window))
    assert [(i.subject, i.start.astimezone(LONDON).date()) for i in again] == [
        ("Series", expected[0]), ("Series (moved)", expected[1]), ("Series", expected[3])
    ]  # fmt: skip
    assert again[1].start.astimezone(LONDON).hour == 11 and again[1].type == "Exception"
    master.refresh()
    assert len(master.modified_occurrences) == 1 and len(master.deleted_occurrences) == 1
    assert master.deleted_occurrences[0].start.astimezone(LONDON).date() == expected[2]
