"""Rendering calendar items (and occurrences) as t:CalendarItem elements in a requested shape."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from lxml import etree

from .bodytext import body_text
from .model import Item, b64, clone, ext_key, folder_id, unb64
from .recurrence import Occurrence, expand, zone_for
from .xmlutil import format_dt, local, sub, t, text_of

# Element order of t:CalendarItem in the EWS schema (Item part, then CalendarItem part).
ORDER = [
    "ItemId", "ParentFolderId", "ItemClass", "Subject", "Sensitivity", "Body", "Attachments",
    "DateTimeReceived", "Size", "Categories", "Importance", "InReplyTo", "IsSubmitted", "IsDraft",
    "IsFromMe", "IsResend", "IsUnmodified", "InternetMessageHeaders", "DateTimeSent",
    "DateTimeCreated", "ResponseObjects", "ReminderDueBy", "ReminderIsSet", "ReminderNextTime",
    "ReminderMinutesBeforeStart", "DisplayCc", "DisplayTo", "HasAttachments", "ExtendedProperty",
    "Culture", "EffectiveRights", "LastModifiedName", "LastModifiedTime", "IsAssociated",
    "WebClientReadFormQueryString", "WebClientEditFormQueryString", "ConversationId",
    "UniqueBody", "Flag", "StoreEntryId", "InstanceKey", "NormalizedBody", "EntityExtractionResult",
    "PolicyTag", "ArchiveTag", "RetentionDate", "Preview", "TextBody", "UID", "RecurrenceId",
    "DateTimeStamp", "Start", "End", "OriginalStart", "IsAllDayEvent", "LegacyFreeBusyStatus",
    "Location", "When", "IsMeeting", "IsCancelled", "IsRecurring", "MeetingRequestWasSent",
    "IsResponseRequested", "CalendarItemType", "MyResponseType", "Organizer", "RequiredAttendees",
    "OptionalAttendees", "Resources", "ConflictingMeetingCount", "AdjacentMeetingCount",
    "ConflictingMeetings", "AdjacentMeetings", "Duration", "TimeZone", "AppointmentReplyTime",
    "AppointmentSequenceNumber", "AppointmentState", "Recurrence", "FirstOccurrence",
    "LastOccurrence", "ModifiedOccurrences", "DeletedOccurrences", "MeetingTimeZone",
    "StartTimeZone", "EndTimeZone", "ConferenceType", "AllowNewTimeProposal", "IsOnlineMeeting",
    "MeetingWorkspaceUrl", "NetShowUrl", "EnhancedLocation", "StartWallClock", "EndWallClock",
    "StartTimeZoneId", "EndTimeZoneId", "IntendedFreeBusyStatus", "JoinOnlineMeetingUrl",
    "OnlineMeetingSettings", "IsOrganizer",
]  # fmt: skip
RANK = {name: i for i, name in enumerate(ORDER)}
DEFAULT_SHAPE = [
    "ItemId", "ParentFolderId", "ItemClass", "Subject", "Sensitivity", "DateTimeCreated",
    "ReminderIsSet", "LastModifiedTime", "Start", "End", "IsAllDayEvent", "LegacyFreeBusyStatus",
    "Location", "IsCancelled", "IsRecurring", "CalendarItemType", "Organizer",
]  # fmt: skip
NOT_IN_ALL_PROPERTIES = {"Body", "UniqueBody", "NormalizedBody", "TextBody", "MimeContent"}
ONLY_WHEN_ASKED = {"TextBody"}  # derived; not part of AllProperties in GetItem either
DEFAULTS = {
    "Sensitivity": "Normal",
    "Importance": "Normal",
    "ReminderIsSet": "true",
    "ReminderMinutesBeforeStart": "15",
    "IsAllDayEvent": "false",
    "LegacyFreeBusyStatus": "Busy",
    "IsCancelled": "false",
}
WRITE_RIGHTS = ("CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify")


def field_name(field_uri: str) -> str:
    """Element name of a FieldURI such as 'calendar:Start' or 'item:Subject'."""
    return field_uri.split(":", 1)[-1]


@dataclass
class Shape:
    """A parsed ItemShape: base shape plus additional field names and extended-property URIs."""

    base: str = "Default"
    names: list[str] = field(default_factory=list)
    ext_uris: list[etree._Element] = field(default_factory=list)
    body_type: str | None = None


def parse_shape(shape_el: etree._Element | None) -> Shape:
    """Read m:ItemShape."""
    shape = Shape()
    if shape_el is None:
        return shape
    for c in shape_el:
        name = local(c.tag)
        if name == "BaseShape":
            shape.base = (c.text or "Default").strip()
        elif name == "BodyType":
            shape.body_type = (c.text or "").strip()
        elif name == "AdditionalProperties":
            for p in c:
                kind = local(p.tag)
                if kind == "FieldURI":
                    shape.names.append(field_name(p.get("FieldURI", "")))
                elif kind == "ExtendedFieldURI":
                    shape.ext_uris.append(p)
                elif kind == "IndexedFieldURI":
                    shape.names.append(field_name(p.get("FieldURI", "")))
    return shape


def occurrence_id(master_id: str, index: int) -> str:
    """ItemId of an occurrence of a series."""
    return b64(f"O:{master_id}:{index}")


def parse_occurrence_id(value: str) -> tuple[str, int] | None:
    """(master id, index) of an occurrence id, or None."""
    raw = unb64(value)
    if not raw or not raw.startswith("O:"):
        return None
    master, _, index = raw[2:].rpartition(":")
    return (master, int(index)) if index.isdigit() else None


def series_tz(item: Item) -> dt.tzinfo:
    """Time zone the series is defined in."""
    tz = item.props.get("StartTimeZone")
    return zone_for(tz if tz is not None else item.props.get("MeetingTimeZone"))


def occurrences(item: Item, until: dt.datetime | None = None) -> list[Occurrence]:
    """All generated occurrences of a series (deleted ones included), stopping after until."""
    rec = item.props.get("Recurrence")
    if rec is None or item.start is None or item.end is None:
        return []
    return expand(rec, item.start, item.end, series_tz(item), until)


@dataclass
class View:
    """What a rendered item is made of."""

    item: Item
    occ: Occurrence | None = None
    props: dict[str, etree._Element] = field(default_factory=dict)

    @property
    def start(self) -> dt.datetime | None:
        """Start of this view (occurrence or item)."""
        v = text_of(self.props.get("Start"))
        return _dt(v)

    @property
    def end(self) -> dt.datetime | None:
        """End of this view (occurrence or item)."""
        v = text_of(self.props.get("End"))
        return _dt(v)


def _dt(v: str | None) -> dt.datetime | None:
    from .xmlutil import parse_dt

    return parse_dt(v) if v else None


def _el(name: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.Element(t(name), {k: v for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def view_of(item: Item, occ: Occurrence | None = None) -> View:
    """Props of an item or of one occurrence (with its exception applied)."""
    props = dict(item.props)
    if occ is not None:
        props.pop("Recurrence", None)
        props["Start"] = _el("Start", format_dt(occ.start))
        props["End"] = _el("End", format_dt(occ.end))
        props.update(item.exceptions.get(occ.index, {}))
    return View(item, occ, props)


def computed(
    view: View, mailbox_display: str, rights: dict[str, bool]
) -> dict[str, etree._Element]:
    """Read-only properties Exchange derives for every item."""
    item, occ = view.item, view.occ
    out: dict[str, etree._Element] = {}
    if occ is None:
        out["ItemId"] = _el("ItemId", Id=item.id, ChangeKey=item.change_key)
        kind = "RecurringMaster" if item.is_recurring else "Single"
    else:
        out["ItemId"] = _el(
            "ItemId", Id=occurrence_id(item.id, occ.index), ChangeKey=item.change_key
        )
        kind = "Exception" if occ.index in item.exceptions else "Occurrence"
        out["OriginalStart"] = _el("OriginalStart", format_dt(occ.start))
    folder = item.folder
    out["ParentFolderId"] = _el(
        "ParentFolderId", Id=folder_id(item.mailbox, folder), ChangeKey="AQAAAA=="
    )
    out["ItemClass"] = _el("ItemClass", "IPM.Appointment")
    out["DateTimeCreated"] = _el("DateTimeCreated", format_dt(item.created))
    if item.modified_by:
        out["LastModifiedName"] = _el("LastModifiedName", item.modified_by)
    out["LastModifiedTime"] = _el("LastModifiedTime", format_dt(item.modified))
    out["HasAttachments"] = _el("HasAttachments", "false")
    out["IsAssociated"] = _el("IsAssociated", "false")
    out["UID"] = _el("UID", item.uid)
    out["IsMeeting"] = _el("IsMeeting", "false")
    # True on occurrences and exceptions only: a series' master is not itself recurring.
    out["IsRecurring"] = _el("IsRecurring", "true" if occ is not None else "false")
    out["CalendarItemType"] = _el("CalendarItemType", kind)
    out["MyResponseType"] = _el("MyResponseType", "Organizer")
    out["AppointmentState"] = _el("AppointmentState", "0")
    org = _el("Organizer")
    mb = sub(org, t("Mailbox"))
    sub(mb, t("Name"), mailbox_display)
    sub(mb, t("EmailAddress"), item.mailbox)
    sub(mb, t("RoutingType"), "SMTP")
    sub(mb, t("MailboxType"), "Mailbox")
    out["Organizer"] = org
    er = _el("EffectiveRights")
    for right in (*WRITE_RIGHTS, "Read", "ViewPrivateItems"):
        # The schema's order, all of them; an item has no Create* rights of its own (folders do).
        granted = rights.get(right) and not right.startswith("Create")
        sub(er, t(right), "true" if granted else "false")
    out["EffectiveRights"] = er
    start, end = view.start, view.end
    if start and end:
        out["Duration"] = _el("Duration", _duration(end - start))
    if occ is None and item.is_recurring:
        _series_summary(item, out)
    return out


def _duration(delta: dt.timedelta) -> str:
    secs = int(delta.total_seconds())
    days, rem = divmod(secs, 86400)
    h, rem = divmod(rem, 3600)
    mi, s = divmod(rem, 60)
    return f"P{days}DT{h}H{mi}M{s}S" if days else f"PT{h}H{mi}M{s}S"


def _series_summary(item: Item, out: dict[str, etree._Element]) -> None:
    needed = max([*item.exceptions, *item.deleted_occurrences, 1])
    occs = occurrences(item, until=item.start + dt.timedelta(days=3700) if item.start else None)
    by_index = {o.index: o for o in occs[: max(needed, len(occs))]}
    live = [o for o in occs if o.index not in item.deleted_occurrences]
    for tag, ends in (("FirstOccurrence", live[:1]), ("LastOccurrence", live[-1:])):
        if ends:
            el = _el(tag)
            edge = ends[0]
            sub(el, t("ItemId"), Id=occurrence_id(item.id, edge.index), ChangeKey=item.change_key)
            sub(el, t("Start"), format_dt(edge.start))
            sub(el, t("End"), format_dt(edge.end))
            sub(el, t("OriginalStart"), format_dt(edge.start))
            out[tag] = el
    if item.exceptions:
        mo = _el("ModifiedOccurrences")
        for idx in sorted(item.exceptions):
            o = by_index.get(idx)
            if o is None:
                continue
            v = view_of(item, o)
            el = sub(mo, t("Occurrence"))
            sub(el, t("ItemId"), Id=occurrence_id(item.id, idx), ChangeKey=item.change_key)
            sub(el, t("Start"), format_dt(v.start or o.start))
            sub(el, t("End"), format_dt(v.end or o.end))
            sub(el, t("OriginalStart"), format_dt(o.start))
        out["ModifiedOccurrences"] = mo
    if item.deleted_occurrences:
        do = _el("DeletedOccurrences")
        for idx in sorted(item.deleted_occurrences):
            o = by_index.get(idx)
            if o is not None:
                sub(sub(do, t("DeletedOccurrence")), t("Start"), format_dt(o.start))
        out["DeletedOccurrences"] = do


def render(
    view: View,
    shape: Shape,
    *,
    for_find: bool,
    mailbox_display: str,
    rights: dict[str, bool],
) -> etree._Element:
    """A t:CalendarItem carrying the properties the shape asks for."""
    derived = computed(view, mailbox_display, rights)
    available: dict[str, etree._Element] = {}
    for k, v in DEFAULTS.items():
        available[k] = _el(k, v)
    available.update(view.props)
    available.update(derived)
    if "TextBody" in shape.names:
        # Exchange 2013+ derives a plain-text rendering of every item's body (only when asked
        # for it, so views that do not want it pay nothing for the conversion).
        body = view.props.get("Body")
        text = body_text(body.get("BodyType"), body.text) if body is not None else ""
        available["TextBody"] = _el("TextBody", text, BodyType="Text")
    if shape.base == "IdOnly":
        wanted = ["ItemId"]
    elif shape.base == "AllProperties":
        wanted = [
            n
            for n in available
            if n not in ONLY_WHEN_ASKED and not (for_find and n in NOT_IN_ALL_PROPERTIES)
        ]
    else:
        wanted = list(DEFAULT_SHAPE)
    wanted += shape.names
    out = etree.Element(t("CalendarItem"))
    seen: set[str] = set()
    for name in sorted(set(wanted), key=lambda n: RANK.get(n, 999)):
        if name in seen or name not in available:
            continue
        seen.add(name)
        if name == "ExtendedProperty":
            continue
        el = clone(available[name]) if name in view.props else available[name]
        if name == "Recurrence":
            _dates_with_offset(el, series_tz(view.item))
        if name == "Body" and shape.body_type == "Text" and el.get("BodyType") == "HTML":
            el = _el("Body", body_text("HTML", el.text), BodyType="Text")
        out.append(el)
        if name == "HasAttachments" and shape.ext_uris:
            pass
    if shape.ext_uris:
        _append_ext(out, view, shape)
    return out


def _dates_with_offset(recurrence: etree._Element, zone: dt.tzinfo) -> None:
    """Exchange writes a range's StartDate and EndDate with the UTC offset the series' time
    zone has on that day (2016-01-01+01:00), whatever form the client sent."""
    for element in recurrence.iter(t("StartDate"), t("EndDate")):
        day = dt.date.fromisoformat((element.text or "").strip()[:10])
        offset = dt.datetime.combine(day, dt.time(12), zone).isoformat()[-6:]  # ±HH:MM
        element.text = day.isoformat() + ("Z" if offset == "+00:00" else offset)


def _append_ext(out: etree._Element, view: View, shape: Shape) -> None:
    wanted = {ext_key(u) for u in shape.ext_uris}
    props = [clone(p) for k, p in view.item.ext.items() if k in wanted]
    if view.occ is not None:
        exc = view.item.exceptions.get(view.occ.index, {})
        overrides = {k[4:]: v for k, v in exc.items() if k.startswith("ext:")}
        props = [clone(overrides.get(k, p)) for k, p in view.item.ext.items() if k in wanted]
        props += [clone(v) for k, v in overrides.items() if k in wanted and k not in view.item.ext]
    if not props:
        return
    # Extended properties sit right after HasAttachments in schema order.
    anchor = None
    for i, c in enumerate(out):
        if RANK.get(local(c.tag), 999) > RANK["ExtendedProperty"]:
            anchor = i
            break
    for p in reversed(props):
        if anchor is None:
            out.append(p)
        else:
            out.insert(anchor, p)
