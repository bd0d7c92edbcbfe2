"""Graph event JSON <-> the connector's dataclasses, and the `$batch` sub-requests of writes.

Times are read as UTC (every request asks `Prefer: outlook.timezone="UTC"`) and written in the
action's time zone, so Outlook shows the trainer's zone; all-day items are written as local
midnights in that zone (Graph requires midnight start and end for `isAllDay`).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from connectors.exchange.base import ExchangeAction, ExchangeRow
from connectors.exchange.tag import (
    GRAPH_TAG_PROPERTY_ID,
    TAG_PROPERTY_SET_ID,
    decode_tag,
    encode_tag,
)

SELECT = (
    "subject,body,start,end,isAllDay,location,showAs,isCancelled,sensitivity,changeKey,type,"
    # Graph names no one who last saved an event: its organizer stands in for the modifier.
    "lastModifiedDateTime,organizer"
)
EXPAND_TAG = f"singleValueExtendedProperties($filter=id eq '{GRAPH_TAG_PROPERTY_ID}')"
SHOW_AS_IN = {
    "free": "Free",
    "tentative": "Tentative",
    "busy": "Busy",
    "oof": "OOF",
    "workingElsewhere": "WorkingElsewhere",
    "unknown": "NoData",
}
SHOW_AS_OUT = {v: k for k, v in SHOW_AS_IN.items()}
SENSITIVITY_IN = {
    "normal": "Normal",
    "personal": "Personal",
    "private": "Private",
    "confidential": "Confidential",
}
_FRACTION = re.compile(r"(\.\d{6})\d+")
_TAG_ID = " ".join(GRAPH_TAG_PROPERTY_ID.lower().split())


def _parse_dtz(value: dict[str, Any]) -> dt.datetime:
    text = _FRACTION.sub(r"\1", str(value["dateTime"]).replace("Z", ""))
    local = dt.datetime.fromisoformat(text)
    tz_name = value.get("timeZone") or "UTC"
    if local.tzinfo is None:
        local = local.replace(tzinfo=dt.UTC if tz_name.upper() == "UTC" else ZoneInfo(tz_name))
    return local.astimezone(dt.UTC)


def tag_value(event: dict[str, Any]) -> str | None:
    """The engine's tag on an event (the named extended property), if any."""
    for prop in event.get("singleValueExtendedProperties") or []:
        if " ".join(str(prop.get("id", "")).lower().split()) == _TAG_ID:
            value = prop.get("value")
            return None if value is None else str(value)
    return None


def row_from_event(event: dict[str, Any]) -> ExchangeRow:
    """An exchange-frame row from a calendarView event (times as UTC instants)."""
    tag_key, tag_hash = decode_tag(tag_value(event))
    body = event.get("body") or {}
    return ExchangeRow(
        item_id=event["id"],
        change_key=event.get("changeKey") or "",
        start=_parse_dtz(event["start"]),
        end=_parse_dtz(event["end"]),
        all_day=bool(event.get("isAllDay")),
        subject=event.get("subject") or "",
        location=(event.get("location") or {}).get("displayName") or "",
        body=body.get("content") or "",
        show_as=SHOW_AS_IN.get(event.get("showAs") or "busy", "Busy"),
        is_cancelled=bool(event.get("isCancelled")),
        sensitivity=SENSITIVITY_IN.get(event.get("sensitivity") or "normal", "Normal"),
        tag_key=tag_key,
        tag_hash=tag_hash,
        modified_by=_organizer_name(event),
        modified_at=_parse_instant(event.get("lastModifiedDateTime")),
    )


def _organizer_name(event: dict[str, Any]) -> str | None:
    """The organizer's name (or address) of an event: Graph's nearest word on who changed it."""
    address = (event.get("organizer") or {}).get("emailAddress") or {}
    name = str(address.get("name") or address.get("address") or "").strip()
    return name or None


def _parse_instant(value: object) -> dt.datetime | None:
    """A Graph timestamp ("2026-03-02T09:00:00.1234567Z") as a UTC datetime, None if absent."""
    if not isinstance(value, str) or not value:
        return None
    return _parse_dtz({"dateTime": value, "timeZone": "UTC"})


# --- writes ----------------------------------------------------------------------------------


def graph_zone(name: str) -> str:
    """The Windows zone name Exchange stores for an IANA name (IANA when unknown)."""
    if name.upper() == "UTC":
        return "UTC"
    try:
        from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP
    except ImportError:  # pragma: no cover - exchangelib is a dependency of the connector
        return name
    return str(IANA_TO_MS_TIMEZONE_MAP.get(name, (name,))[0])


def _dtz(value: dt.datetime, tz_name: str) -> dict[str, str]:
    tz = dt.UTC if tz_name.upper() == "UTC" else ZoneInfo(tz_name)
    local = value.astimezone(tz).replace(tzinfo=None)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": graph_zone(tz_name)}


def _times(action: ExchangeAction) -> dict[str, Any]:
    if action.start is None or action.end is None:
        raise ValueError("start and end are needed")
    if action.start.tzinfo is None or action.end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if action.end < action.start:
        raise ValueError(f"'end' must not be before 'start' ({action.start} -> {action.end})")
    start, end = _dtz(action.start, action.timezone), _dtz(action.end, action.timezone)
    if action.all_day and not (
        start["dateTime"].endswith("T00:00:00") and end["dateTime"].endswith("T00:00:00")
    ):
        raise ValueError(f"an all-day item must start and end at midnight in {action.timezone}")
    return {"start": start, "end": end, "isAllDay": action.all_day}


def _fields(action: ExchangeAction, names: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "subject" in names:
        out["subject"] = action.subject
    if "body" in names:
        out["body"] = {"contentType": "text", "content": action.body}
    if "location" in names:
        out["location"] = {"displayName": action.location}
    if names & {"start", "end", "all_day", "timezone"}:
        out.update(_times(action))
    if "show_as" in names:
        if action.show_as not in SHOW_AS_OUT:
            raise ValueError(f"show_as {action.show_as!r} is not one of {', '.join(SHOW_AS_OUT)}")
        out["showAs"] = SHOW_AS_OUT[action.show_as]
    if "categories" in names:
        out["categories"] = list(action.categories)
    if "reminder_minutes" in names:
        out["isReminderOn"] = action.reminder_minutes is not None
        if action.reminder_minutes is not None:
            out["reminderMinutesBeforeStart"] = int(action.reminder_minutes)
    out["singleValueExtendedProperties"] = [
        {"id": GRAPH_TAG_PROPERTY_ID, "value": encode_tag(action.entry_key, action.content_hash)}
    ]
    return out


ALL_FIELDS = {
    "subject",
    "body",
    "location",
    "start",
    "show_as",
    "categories",
    "reminder_minutes",
}


def transaction_id(mailbox: str, action: ExchangeAction, attempt: str) -> str:
    """The `transactionId` of a create: the same for every send of one create within one
    `apply` (`attempt`), so Graph answers a resend with the event the first send made instead
    of making a second one (e.g. after a connection dropped before the answer came).

    A later create of the same entry (the trainer deleted the item; the next cycle puts it
    back) is another attempt with another id: Graph must make that event anew, whatever it
    remembers of the ids of deleted events. Across cycles the tag prevents duplicates.
    """
    name = f"{mailbox.lower()}|{action.entry_key}|{action.content_hash}|{attempt}"
    return str(uuid.uuid5(uuid.UUID(TAG_PROPERTY_SET_ID), name))


def subrequest(mailbox: str, action: ExchangeAction, prefer: str, attempt: str) -> dict[str, Any]:
    """The `$batch` sub-request (without id) of one action; raises ValueError if invalid.

    `attempt` names this `apply` call: see `transaction_id`."""
    user = f"/users/{quote(mailbox, safe='@')}"
    headers = {"Prefer": prefer}
    if action.action == "create":
        headers["Content-Type"] = "application/json"
        body = {
            **_fields(action, ALL_FIELDS),
            "transactionId": transaction_id(mailbox, action, attempt),
        }
        return {
            "method": "POST",
            "url": f"{user}/calendar/events",
            "headers": headers,
            "body": body,
        }
    item = quote(action.item_id or "", safe="")
    if action.action == "update":
        headers["Content-Type"] = "application/json"
        headers["If-Match"] = f'W/"{action.change_key}"'
        body = _fields(action, set(action.changed_fields))
        return {"method": "PATCH", "url": f"{user}/events/{item}", "headers": headers, "body": body}
    if action.delete_mode == "move_to_deleted_items":
        return {"method": "DELETE", "url": f"{user}/events/{item}", "headers": headers}
    return {"method": "POST", "url": f"{user}/events/{item}/permanentDelete", "headers": headers}
