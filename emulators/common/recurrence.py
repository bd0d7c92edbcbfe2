"""Calendar arithmetic of recurrence patterns, the same in EWS and Graph.

Each protocol reads its own pattern format (XML elements, JSON fields) and its own range
(end date, count, open end) and hands the pattern to `pattern_dates` as plain values.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator, Sequence

# Lower-case weekday names, Monday first (index = date.weekday()).
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Cap on the occurrences a series expands to, so an open-ended one cannot run away.
MAX_OCCURRENCES = 2000
KINDS = (
    "daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly"
)  # fmt: skip
LAST = -1
#: Which-week of a relative pattern, by its name in EWS and Graph (any case): first to fourth,
#: or the last in the month.
INDEXES = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": LAST}


def pattern_dates(
    kind: str,
    first: dt.date,
    interval: int = 1,
    weekdays: Sequence[int] = (),
    first_weekday: int = 6,
    day_of_month: int | None = None,
    month: int | None = None,
    index: int = 1,
) -> Iterator[dt.date]:
    """Local dates a pattern falls on from `first` onwards, endlessly, in order.

    kind is one of KINDS; weekdays and first_weekday are date.weekday() numbers (weekly, and
    the days counted by relative patterns: all seven for "day", Monday to Friday for
    "weekday"; default: first's weekday); day_of_month (absolute patterns; default: first's
    day) skips months too short for it; month (yearly; default: first's) is 1-12; index
    (relative) is 1-4 or LAST: "the third weekday" is index 3 with weekdays 0-4.
    Yearly patterns repeat every `interval` years, monthly ones every `interval` months.
    """
    interval = max(1, interval)
    if kind in ("relativeMonthly", "absoluteMonthly", "relativeYearly", "absoluteYearly"):
        yield from _monthly(kind, first, interval, weekdays, day_of_month, month, index)
        return
    if kind == "daily":
        d = first
        while True:
            yield d
            d += dt.timedelta(days=interval)
    elif kind == "weekly":
        days = sorted(set(weekdays)) or [first.weekday()]
        week = first - dt.timedelta(days=(first.weekday() - first_weekday) % 7)
        order = sorted(days, key=lambda wd: (wd - first_weekday) % 7)
        while True:
            for wd in order:
                d = week + dt.timedelta(days=(wd - first_weekday) % 7)
                if d >= first:
                    yield d
            week += dt.timedelta(weeks=interval)
    else:
        raise ValueError(f"Unsupported recurrence pattern {kind}")


def _monthly(
    kind: str,
    first: dt.date,
    interval: int,
    weekdays: Sequence[int],
    day_of_month: int | None,
    month: int | None,
    index: int,
) -> Iterator[dt.date]:
    """Monthly and yearly patterns: one date (or none) in each month they visit."""
    yearly = kind.endswith("Yearly")
    y, m = first.year, (month or first.month) if yearly else first.month
    step = 12 * interval if yearly else interval
    days = set(weekdays) or {first.weekday()}
    while True:
        if kind.startswith("relative"):
            d: dt.date | None = nth_day(y, m, days, index)
        else:
            try:
                d = dt.date(y, m, day_of_month or first.day)
            except ValueError:  # 31 June, 29 February in a common year: that month has none
                d = None
        if d is not None and d >= first:
            yield d
        m += step
        y, m = y + (m - 1) // 12, (m - 1) % 12 + 1


def nth_day(year: int, month: int, weekdays: set[int], index: int) -> dt.date | None:
    """The index-th day of the month (LAST: the last) whose weekday is one of `weekdays`."""
    days = [
        dt.date(year, month, day)
        for day in range(1, calendar.monthrange(year, month)[1] + 1)
        if dt.date(year, month, day).weekday() in weekdays
    ]
    if index == LAST:
        return days[-1] if days else None
    return days[index - 1] if 0 < index <= len(days) else None
