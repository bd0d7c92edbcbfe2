"""Expansion of EWS recurrence patterns into occurrences, in the series' own time zone."""

from __future__ import annotations

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


# EWS pattern elements -> the shared pattern kinds.
_KINDS = {
    "DailyRecurrence": "daily",
    "WeeklyRecurrence": "weekly",
    "AbsoluteMonthlyRecurrence": "absoluteMonthly",
}


def _local_dates(pattern: etree._Element, start_date: dt.date) -> Iterator[dt.date]:
    kind = local(pattern.tag)
    if kind not in _KINDS:
        raise ValueError(f"Unsupported recurrence pattern {kind}")
    # Fields are read only for the kind that uses them, as Exchange does.
    weekly, monthly = _KINDS[kind] == "weekly", _KINDS[kind] == "absoluteMonthly"
    names = (text_of(pattern, "DaysOfWeek") or "").split() if weekly else []
    first_day = text_of(pattern, "FirstDayOfWeek") if weekly else None
    dom = text_of(pattern, "DayOfMonth") if monthly else None
    return shared.pattern_dates(
        _KINDS[kind],
        start_date,
        interval=int(text_of(pattern, "Interval") or "1"),
        weekdays=[WEEKDAYS.index(n) for n in names if n in WEEKDAYS],
        first_weekday=WEEKDAYS.index(first_day or "Sunday"),
        day_of_month=int(dom) if dom else None,
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
