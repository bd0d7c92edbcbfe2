"""Graph event resources: validation of writes, recurrence expansion and JSON rendering.

Follows the v1.0 `event` resource: `start`/`end` are `dateTimeTimeZone` (a local dateTime plus
a Windows or IANA zone name); answers are rendered in the zone asked with
`Prefer: outlook.timezone` (UTC otherwise). Recurring series (`patternedRecurrence`: daily,
weekly, absoluteMonthly; endDate, numbered or noEnd ranges) are expanded into `occurrence`
instances whose ids are `<series id>.<yyyymmdd>`; an instance edited on its own becomes an
`exception`, a deleted one disappears from the view.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from typing import Any, TypeAlias, TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from emulators.common.recurrence import (
    INDEXES,
    KINDS,
    MAX_OCCURRENCES,
    WEEKDAYS,
    pattern_dates,
)
from emulators.common.timezones import iana_name

from .model import new_change_key

SHOW_AS = ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown")
SENSITIVITY = ("normal", "personal", "private", "confidential")
WRITABLE = {
    "subject",
    "body",
    "start",
    "end",
    "isAllDay",
    "showAs",
    "sensitivity",
    "categories",
    "reminderMinutesBeforeStart",
    "isReminderOn",
    "location",
    "recurrence",
    "singleValueExtendedProperties",
    "attendees",
    "importance",
    "isCancelled",
    "transactionId",
}
_TAGS = re.compile(r"<[^>]+>")

# One instance of an event in a time window: (id, start, end, fields), UTC times; the fields
# are the event's own, or for an occurrence its series' with its exception applied.
Instance: TypeAlias = tuple[str, dt.datetime, dt.datetime, dict[str, Any]]


class RenderOptions(TypedDict):
    """How `render` shows an event, from a request's Prefer headers and query options."""

    tz_name: str  # outlook.timezone
    text_body: bool  # outlook.body-content-type="text"
    select: set[str] | None  # $select
    expand_props: list[str] | None  # $expand of extended properties: wanted ids ([] for all)


class InvalidEvent(ValueError):
    """A write Graph would refuse with 400 (code, message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def zone(name: str | None) -> dt.tzinfo:
    """tzinfo of a Windows or IANA zone name; raises InvalidEvent for unknown names."""
    if not name or name.upper() == "UTC":
        return dt.UTC
    iana = iana_name(name) or name
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidEvent(
            "TimeZoneNotSupportedException",
            "A valid TimeZone value must be specified. The following TimeZone value is not "
            f"supported: '{name}'.",
        ) from exc


def parse_instant(value: str, default_tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    """A query-string dateTime (with or without offset) as a UTC instant."""
    text = value.strip().replace("Z", "+00:00")
    parsed = dt.datetime.fromisoformat(_trim_fraction(text))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_tz)
    return parsed.astimezone(dt.UTC)


def _trim_fraction(text: str) -> str:
    # Graph writes 7 fractional digits; Python reads at most 6.
    return re.sub(r"(\.\d{6})\d+", r"\1", text)


def instant(dtz: dict[str, Any]) -> dt.datetime:
    """A dateTimeTimeZone as a UTC instant."""
    if not isinstance(dtz, dict) or not dtz.get("dateTime"):
        raise InvalidEvent("ErrorInvalidRequest", "dateTimeTimeZone needs dateTime and timeZone.")
    try:
        local = dt.datetime.fromisoformat(_trim_fraction(str(dtz["dateTime"]).replace("Z", "")))
    except ValueError as exc:
        raise InvalidEvent(
            "ErrorInvalidRequest", f"Cannot read dateTime {dtz['dateTime']!r}."
        ) from exc
    tz = zone(dtz.get("timeZone"))
    if local.tzinfo is None:
        local = local.replace(tzinfo=tz)
    return local.astimezone(dt.UTC)


def render_dtz(value: dt.datetime, tz_name: str) -> dict[str, str]:
    """A UTC instant as dateTimeTimeZone in the zone a client asked for."""
    local = value.astimezone(zone(tz_name)).replace(tzinfo=None)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": tz_name}


# --- writes ----------------------------------------------------------------------------------


def validate(ev: dict[str, Any]) -> None:
    """Raise InvalidEvent for what Exchange Online refuses."""
    start, end = instant(ev.get("start") or {}), instant(ev.get("end") or {})
    if end < start:
        raise InvalidEvent(
            "ErrorInvalidRequest", "The end time of the event is before its start time."
        )
    if ev.get("showAs", "busy") not in SHOW_AS:
        raise InvalidEvent("RequestBodyRead", f"Cannot convert {ev.get('showAs')!r} to showAs.")
    if ev.get("sensitivity", "normal") not in SENSITIVITY:
        raise InvalidEvent(
            "RequestBodyRead", f"Cannot convert {ev.get('sensitivity')!r} to sensitivity."
        )
    if ev.get("isAllDay"):
        for key in ("start", "end"):
            local = dt.datetime.fromisoformat(_trim_fraction(ev[key]["dateTime"]))
            if local.time() != dt.time(0):
                raise InvalidEvent(
                    "ErrorInvalidRequest",
                    "All-day events must start and end at midnight in the event's time zone.",
                )
        if end == start:
            raise InvalidEvent("ErrorInvalidRequest", "An all-day event must last at least a day.")
    for prop in ev.get("singleValueExtendedProperties") or []:
        if not isinstance(prop, dict) or not prop.get("id") or "value" not in prop:
            raise InvalidEvent("ErrorInvalidProperty", "Extended properties need id and value.")
    rec = ev.get("recurrence")
    if rec:
        kind = (rec.get("pattern") or {}).get("type")
        if kind not in KINDS:
            raise InvalidEvent(
                "ErrorInvalidRecurrence", f"Recurrence pattern {kind!r} is not supported here."
            )


def merge_props(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Single-value extended properties: a PATCH sets the named ones and keeps the others."""
    out = {normalise_prop_id(p["id"]): p for p in old}
    for p in new:
        out[normalise_prop_id(p["id"])] = {"id": p["id"], "value": p["value"]}
    return list(out.values())


def normalise_prop_id(prop_id: str) -> str:
    """Compare extended property ids case-insensitively, single-spaced."""
    return " ".join(prop_id.split()).lower()


def organizer(mailbox: str) -> dict[str, Any]:
    """The organizer of an event made in `mailbox` (its display name: the address' local part)."""
    return {"emailAddress": {"name": mailbox.split("@")[0], "address": mailbox}}


def touch(ev: dict[str, Any], seq: int, now: dt.datetime) -> None:
    """Give an event a new change key and mark it changed at `seq`."""
    ev["changeKey"] = new_change_key()
    ev["lastModifiedDateTime"] = now.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    ev["_seq"] = seq


# --- recurrence ------------------------------------------------------------------------------


def _dates(pattern: dict[str, Any], first: dt.date) -> Iterator[dt.date]:
    kind = pattern.get("type")
    if kind not in KINDS:  # refused on write; a hand-edited state file expands to nothing
        return iter(())
    # Fields are read only for the kind that uses them: clients send them (zeroed) for all.
    relative = kind.startswith("relative")
    days = pattern.get("daysOfWeek") if kind == "weekly" or relative else None
    first_day = pattern.get("firstDayOfWeek") if kind == "weekly" else None
    dom = pattern.get("dayOfMonth") if kind.startswith("absolute") else None
    month = pattern.get("month") if kind.endswith("Yearly") else None
    index = str(pattern.get("index") or "first") if relative else "first"
    return pattern_dates(
        kind,
        first,
        interval=int(pattern.get("interval") or 1),
        weekdays=[WEEKDAYS.index(x.lower()) for x in days or []],
        first_weekday=WEEKDAYS.index((first_day or "sunday").lower()),
        day_of_month=int(dom) if dom else None,
        month=int(month) if month else None,
        index=INDEXES.get(index.lower(), 1),
    )


def occurrence_dates(master: dict[str, Any], until: dt.datetime) -> list[dt.date]:
    """Local dates of a series' occurrences (before `until` for series without an end)."""
    rec = master["recurrence"]
    rng = rec.get("range") or {}
    tz = zone(master["start"].get("timeZone"))
    local_start = instant(master["start"]).astimezone(tz)
    first = dt.date.fromisoformat(rng["startDate"]) if rng.get("startDate") else local_start.date()
    end_date = dt.date.fromisoformat(rng["endDate"]) if rng.get("type") == "endDate" else None
    count = int(rng.get("numberOfOccurrences") or 0) if rng.get("type") == "numbered" else None
    out: list[dt.date] = []
    for index, day in enumerate(_dates(rec.get("pattern") or {}, first), start=1):
        if (count is not None and index > count) or (end_date and day > end_date):
            break
        if index > MAX_OCCURRENCES or (count is None and end_date is None and day > until.date()):
            break
        out.append(day)
    return out


def instances(ev: dict[str, Any], start: dt.datetime, end: dt.datetime) -> list[Instance]:
    """(id, start, end, fields) of an event's instances overlapping [start, end).

    A single event is its own instance; a series yields its occurrences and exceptions.
    """
    s0, e0 = instant(ev["start"]), instant(ev["end"])
    if not ev.get("recurrence"):
        return [(ev["id"], s0, e0, ev)] if _overlaps(s0, e0, ev, start, end) else []
    tz = zone(ev["start"].get("timeZone"))
    local_start = s0.astimezone(tz)
    duration = e0 - s0
    out = []
    exceptions = ev.get("_exceptions") or {}
    cancelled = ev.get("_cancelled") or {}
    for day in occurrence_dates(ev, end + dt.timedelta(days=1)):
        key = day.strftime("%Y%m%d")
        if key in cancelled:
            continue
        occ_id = f"{ev['id']}.{key}"
        naive = dt.datetime.combine(day, local_start.time().replace(tzinfo=None))
        occ_start = naive.replace(tzinfo=tz).astimezone(dt.UTC)
        fields = {**ev, **exceptions.get(key, {}), "id": occ_id}
        fields["_occurrence"] = key
        fields["_type"] = "exception" if key in exceptions else "occurrence"
        if key in exceptions and "start" in exceptions[key]:
            o_s, o_e = instant(exceptions[key]["start"]), instant(exceptions[key]["end"])
        else:
            o_s, o_e = occ_start, occ_start + duration
        if _overlaps(o_s, o_e, fields, start, end):
            out.append((occ_id, o_s, o_e, fields))
    return out


def _overlaps(
    s: dt.datetime, e: dt.datetime, ev: dict[str, Any], start: dt.datetime, end: dt.datetime
) -> bool:
    return s < end and (e > start or (s == e and s >= start))


# --- reads -----------------------------------------------------------------------------------


def render(
    fields: dict[str, Any],
    start: dt.datetime,
    end: dt.datetime,
    *,
    tz_name: str,
    text_body: bool,
    select: set[str] | None,
    expand_props: list[str] | None,
) -> dict[str, Any]:
    """The JSON of one event instance as Graph answers it."""
    body = dict(fields.get("body") or {"contentType": "text", "content": ""})
    if text_body and body.get("contentType", "").lower() == "html":
        body = {
            "contentType": "text",
            "content": html.unescape(_TAGS.sub("", body["content"])).strip(),
        }
    kind = fields.get("_type") or ("seriesMaster" if fields.get("recurrence") else "singleInstance")
    out: dict[str, Any] = {
        "@odata.etag": f'W/"{fields["changeKey"]}"',
        "id": fields["id"],
        "createdDateTime": fields.get("createdDateTime"),
        "lastModifiedDateTime": fields.get("lastModifiedDateTime"),
        "changeKey": fields["changeKey"],
        "categories": list(fields.get("categories") or []),
        "originalStartTimeZone": fields["start"].get("timeZone"),
        "originalEndTimeZone": fields["end"].get("timeZone"),
        "iCalUId": fields.get("iCalUId"),
        "reminderMinutesBeforeStart": fields.get("reminderMinutesBeforeStart", 15),
        "isReminderOn": fields.get("isReminderOn", True),
        "subject": fields.get("subject", ""),
        "bodyPreview": (body.get("content") or "")[:255],
        "importance": fields.get("importance", "normal"),
        "sensitivity": fields.get("sensitivity", "normal"),
        "isAllDay": bool(fields.get("isAllDay")),
        "isCancelled": bool(fields.get("isCancelled")),
        "isOrganizer": True,
        "organizer": fields.get("organizer") or {"emailAddress": {"name": "", "address": ""}},
        "showAs": fields.get("showAs", "busy"),
        "type": kind,
        "seriesMasterId": fields["id"].split(".")[0]
        if kind in ("occurrence", "exception")
        else None,
        "body": body,
        "start": render_dtz(start, tz_name),
        "end": render_dtz(end, tz_name),
        "location": {
            "displayName": (fields.get("location") or {}).get("displayName", ""),
            "locationType": "default",
        },
        "attendees": list(fields.get("attendees") or []),
        "recurrence": fields.get("recurrence") if kind == "seriesMaster" else None,
    }
    if fields.get("transactionId"):  # only returned when a client set it, as Graph does
        out["transactionId"] = fields["transactionId"]
    if select:
        keep = select | {"id", "@odata.etag"}
        out = {k: v for k, v in out.items() if k in keep}
    if expand_props is not None:
        wanted = {normalise_prop_id(p) for p in expand_props}
        props = [
            {"id": p["id"], "value": p["value"]}
            for p in fields.get("singleValueExtendedProperties") or []
            if not wanted or normalise_prop_id(p["id"]) in wanted
        ]
        if props:
            out["singleValueExtendedProperties"] = props
    return out
