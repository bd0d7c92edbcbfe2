"""Expansion of EWS recurrence patterns into occurrences, in the series' own time zone."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lxml import etree

from emulators.common import recurrence as shared
from emulators.common.timezones import iana_name

from .xmlutil import children, local, text_of

WEEKDAYS = [d.capitalize() for d in shared.WEEKDAYS]  # as EWS spells them


def zone_for(tz_elem: etree._Element | None) -> dt.tzinfo:
    """The tzinfo of a StartTimeZone/MeetingTimeZone element (UTC when unknown)."""
    if tz_elem is None:
        return dt.UTC
    ms_id = tz_elem.get("Id") or tz_elem.get("TimeZoneName") or ""
    iana = iana_name(ms_id) or ms_id
    try:
        return ZoneInfo(iana) if iana else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    return dt.date.fromisoformat(value.strip()[:10])


@dataclass
class Occurrence:
    """One generated instance of a series (1-based index, UTC times)."""

    index: int
    start: dt.datetime
    end: dt.datetime


# EWS pattern elements (types.xsd) -> the shared pattern kinds.
KINDS = {
    "DailyRecurrence": "daily",
    "WeeklyRecurrence": "weekly",
    "AbsoluteMonthlyRecurrence": "absoluteMonthly",
    "RelativeMonthlyRecurrence": "relativeMonthly",
    "AbsoluteYearlyRecurrence": "absoluteYearly",
    "RelativeYearlyRecurrence": "relativeYearly",
}
# DayOfWeekType's values beyond the seven days: which days a relative pattern counts.
_DAY_GROUPS = {"Day": range(7), "Weekday": range(5), "WeekendDay": (5, 6)}
MONTHS = [calendar.month_name[n] for n in range(1, 13)]  # January..December, as EWS spells them


def _weekdays(names: str) -> list[int]:
    days: list[int] = []
    for name in names.split():
        days += _DAY_GROUPS.get(name, [WEEKDAYS.index(name)] if name in WEEKDAYS else [])
    return days


def _local_dates(pattern: etree._Element, start_date: dt.date) -> Iterator[dt.date]:
    kind = KINDS.get(local(pattern.tag))
    if kind is None:
        raise ValueError(f"Unsupported recurrence pattern {local(pattern.tag)}")
    # Fields are read only for the kinds that use them, as Exchange does.
    counts_days = kind == "weekly" or kind.startswith("relative")
    first_day = text_of(pattern, "FirstDayOfWeek") if kind == "weekly" else None
    dom = text_of(pattern, "DayOfMonth") if kind.startswith("absolute") else None
    month = text_of(pattern, "Month") if kind.endswith("Yearly") else None
    index = text_of(pattern, "DayOfWeekIndex") if kind.startswith("relative") else None
    return shared.pattern_dates(
        kind,
        start_date,
        interval=int(text_of(pattern, "Interval") or "1"),
        weekdays=_weekdays(text_of(pattern, "DaysOfWeek") or "") if counts_days else [],
        first_weekday=WEEKDAYS.index(first_day or "Sunday"),
        day_of_month=int(dom) if dom else None,
        month=MONTHS.index(month) + 1 if month in MONTHS else None,
        index=shared.INDEXES.get((index or "First").lower(), 1),
    )


def expand(
    recurrence: etree._Element,
    start: dt.datetime,
    end: dt.datetime,
    tz: dt.tzinfo,
    until: dt.datetime | None = None,
) -> list[Occurrence]:
    """Occurrences of a series whose master runs start..end, generated in tz, up to until."""
    parts = children(recurrence)
    ranges = ("NoEndRecurrence", "EndDateRecurrence", "NumberedRecurrence")
    pattern = next((p for p in parts if local(p.tag) not in ranges), None)
    rng = next((p for p in parts if local(p.tag) in ranges), None)
    if pattern is None or rng is None:
        return []
    local_start = start.astimezone(tz)
    duration = end - start
    range_start = _date(text_of(rng, "StartDate")) or local_start.date()
    end_date = _date(text_of(rng, "EndDate")) if local(rng.tag) == "EndDateRecurrence" else None
    count = (
        int(text_of(rng, "NumberOfOccurrences") or "0")
        if local(rng.tag) == "NumberedRecurrence"
        else None
    )
    out: list[Occurrence] = []
    for index, day in enumerate(_local_dates(pattern, range_start), start=1):
        if count is not None and index > count:
            break
        if end_date is not None and day > end_date:
            break
        if index > shared.MAX_OCCURRENCES:
            break
        naive = dt.datetime.combine(day, local_start.time().replace(tzinfo=None))
        occ_start = naive.replace(tzinfo=tz).astimezone(dt.UTC)
        if until is not None and occ_start >= until and count is None and end_date is None:
            break
        out.append(Occurrence(index, occ_start, occ_start + duration))
    return out
