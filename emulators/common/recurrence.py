"""Calendar arithmetic of recurrence patterns, the same in EWS and Graph.

Each protocol reads its own pattern format (XML elements, JSON fields) and its own range
(end date, count, open end) and hands the pattern to `pattern_dates` as plain values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

# Lower-case weekday names, Monday first (index = date.weekday()).
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Cap on the occurrences a series expands to, so an open-ended one cannot run away.
MAX_OCCURRENCES = 2000
KINDS = ("daily", "weekly", "absoluteMonthly")


def pattern_dates(
    kind: str,
    first: dt.date,
    interval: int = 1,
    weekdays: Sequence[int] = (),
    first_weekday: int = 6,
    day_of_month: int | None = None,
) -> Iterator[dt.date]:
    """Local dates a pattern falls on from `first` onwards, endlessly, in order.

    kind is one of KINDS; weekdays (weekly; default: first's weekday) and first_weekday are
    date.weekday() numbers; day_of_month (absoluteMonthly; default: first's day) skips months
    too short for it.
    """
    interval = max(1, interval)
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
    elif kind == "absoluteMonthly":
        dom = day_of_month or first.day
        y, m = first.year, first.month
        while True:
            try:
                d = dt.date(y, m, dom)
                if d >= first:
                    yield d
            except ValueError:
                pass
            m += interval
            y, m = y + (m - 1) // 12, (m - 1) % 12 + 1
    else:
        raise ValueError(f"Unsupported recurrence pattern {kind}")
