"""Single EWS requests for the connector, built with exchangelib and parsed from raw XML.

exchangelib builds each request payload (so the XML is what it would send) and decodes EWS
response codes, but the connector sends exactly one HTTP request per call, with none of
exchangelib's internal retries, and reads the answer's XML itself: per-item errors come back
as values (one refused item never hides its neighbours' results), `ErrorServerBusy` carries
its `BackOffMilliseconds` whether it arrives as a SOAP fault or a response message, and rows
are parsed without building exchangelib item objects.

The calendar is always addressed as `DistinguishedFolderId calendar` + `Mailbox`, so no
GetFolder(root)/GetFolder(calendar) discovery requests are ever sent.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from exchangelib import UTC, Account, CalendarItem, EWSDateTime, EWSTimeZone, ExtendedProperty
from exchangelib import errors as ews
from exchangelib.fields import FieldPath, InvalidField
from exchangelib.folders import Folder
from exchangelib.properties import Body, CalendarView, DistinguishedFolderId, ItemId, Mailbox
from exchangelib.services import (
    CreateItem,
    DeleteItem,
    FindItem,
    GetFolder,
    GetItem,
    ResolveNames,
    SyncFolderItems,
    UpdateItem,
)
from exchangelib.services.common import EWSService
from exchangelib.util import MNS, TNS, create_element

from connectors.exchange.base import ExchangeAction, ExchangeRow, RequestStats
from connectors.exchange.errors import ExchangeError
from connectors.exchange.tag import (
    TAG_PROPERTY_NAME,
    TAG_PROPERTY_SET_ID,
    TAG_PROPERTY_TYPE,
    decode_tag,
    encode_tag,
)

TAG_FIELD = "trainer_sync_tag"
BATCH_SIZE = 100  # items per CreateItem/UpdateItem/DeleteItem/GetItem request
SYNC_PAGE = 512  # SyncFolderItems' maximum MaxChangesReturned
Element = Any  # an lxml element of an EWS answer (lxml is untyped)
Written = tuple[str | None, str | None]  # (item id, change key) of a created or updated item


class SyncStateRejected(ExchangeError):
    """Exchange no longer accepts a SyncFolderItems state (expired, corrupt or foreign)."""


# exchangelib registers fields by class, so the tag must be a subclass of its (untyped) class.
class TrainerSyncTag(ExtendedProperty):  # type: ignore[misc]
    """The engine's tag (see connectors.exchange.tag) as an exchangelib extended property."""

    property_set_id = TAG_PROPERTY_SET_ID
    property_name = TAG_PROPERTY_NAME
    property_type = TAG_PROPERTY_TYPE


def _register_tag() -> None:
    # exchangelib's field registry is per class hierarchy and process-wide: register once.
    try:
        CalendarItem.get_field_by_fieldname(TAG_FIELD)
    except InvalidField:
        CalendarItem.register(TAG_FIELD, TrainerSyncTag)


_register_tag()


def _exception_keeping_back_off(
    code: str | None,
    text: str | None,
    msg_xml: Element | None = None,
    rule_errors: Any = None,
) -> Exception:
    """exchangelib's exception for a response code; a busy answer keeps the back-off that
    Exchange puts in the response message (exchangelib reads it only from SOAP faults)."""
    exc: Exception = EWSService._get_exception(
        code=code, text=text, msg_xml=msg_xml, rule_errors=rule_errors
    )
    if isinstance(exc, ews.ErrorServerBusy) and exc.back_off is None and msg_xml is not None:
        for value in msg_xml.iter(f"{{{TNS}}}Value"):
            if value.get("Name") == "BackOffMilliseconds" and (value.text or "").isdigit():
                exc.back_off = int(value.text) / 1000.0
    return exc


def _lenient(svc: EWSService) -> EWSService:
    """The service, answering per-message errors as values (one refused item never hides its
    neighbours' results) and keeping the back-off of busy answers."""
    svc.ERRORS_TO_CATCH_IN_RESPONSE = (ews.EWSError,)
    svc.WARNINGS_TO_CATCH_IN_RESPONSE = (ews.EWSError,)
    svc._get_exception = _exception_keeping_back_off
    return svc


def calendar_id(mailbox: str) -> DistinguishedFolderId:
    """The mailbox's Calendar, addressed without any discovery request."""
    return DistinguishedFolderId(id="calendar", mailbox=Mailbox(email_address=mailbox))


def _messages(svc: EWSService, payload: Element) -> list[Element]:
    """Send one request; return its response messages (request-level failures raise)."""
    return list(svc._get_response_xml(payload=payload))


def _only_message(svc: EWSService, payload: Element, stats: RequestStats) -> Element:
    """Send one request that names one folder or entry; count it; return its one message."""
    stats.add(type(svc).__name__)
    (message,) = _messages(svc, payload)
    return message


def _container(svc: EWSService, message: Element, name: str | None) -> Element | Exception:
    """The named element of a response message, or the EWS error it carries (as a value)."""
    return EWSService._get_element_container(svc, message=message, name=name)


def _raise_if_error(value: Element | Exception) -> Element:
    if isinstance(value, Exception):
        raise value
    return value


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(elem: Element, name: str) -> str | None:
    child = elem.find(f"{{{TNS}}}{name}")
    return None if child is None else (child.text or "")


def _bool(elem: Element, name: str) -> bool:
    return (_text(elem, name) or "").strip().lower() == "true"


def _ews_dt(value: dt.datetime) -> EWSDateTime:
    if value.tzinfo is None:
        raise ValueError(f"{value!r} must be timezone-aware")
    return EWSDateTime.from_datetime(value.astimezone(dt.UTC)).astimezone(UTC)


def _parse_dt(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:  # EWS sends UTC; be lenient with a missing designator
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _item_id(elem: Element) -> tuple[str, str]:
    ref = elem.find(f"{{{TNS}}}ItemId")
    if ref is None:
        raise ews.MalformedResponseError(f"no ItemId in {_local(elem.tag)}")
    return str(ref.get("Id")), ref.get("ChangeKey") or ""


# --- rights --------------------------------------------------------------------------------


def calendar_rights(account: Account, mailbox: str, stats: RequestStats) -> dict[str, bool]:
    """GetFolder(calendar) with EffectiveRights: {"read": .., "create": .., ...}."""
    svc = _lenient(GetFolder(account=account))
    payload = svc.get_payload(
        folders=[calendar_id(mailbox)],
        additional_fields=[FieldPath(field=Folder.get_field_by_fieldname("effective_rights"))],
        shape="IdOnly",
    )
    message = _only_message(svc, payload, stats)
    folders = _raise_if_error(_container(svc, message, f"{{{MNS}}}Folders"))
    rights: dict[str, bool] = {}
    for folder in folders:
        er = folder.find(f"{{{TNS}}}EffectiveRights")
        if er is None:
            continue
        for child in er:
            rights[_local(child.tag)] = (child.text or "").strip().lower() == "true"
    return {
        "read": rights.get("Read", False),
        "create": rights.get("CreateContents", False),
        "modify": rights.get("Modify", False),
        "delete": rights.get("Delete", False),
    }


def resolve_name(protocol: Any, name: str, stats: RequestStats) -> bool:
    """ResolveNames for one entry: whether the directory knows it (any answer proves the login)."""
    # A request made without an Account has no server version to speak unless one is pinned:
    # ask the server first (one ConvertId), as an Account would.
    protocol.version  # noqa: B018
    svc = _lenient(ResolveNames(protocol=protocol))
    payload = svc.get_payload(
        unresolved_entries=[name],
        parent_folders=None,
        return_full_contact_data=False,
        search_scope=None,
        contact_data_shape=None,
    )
    message = _only_message(svc, payload, stats)
    found = _container(svc, message, f"{{{MNS}}}ResolutionSet")
    if isinstance(found, ews.ErrorNameResolutionNoResults):
        return False
    _raise_if_error(found)
    return True


# --- calendar view -------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewPage:
    """Ids and change keys of one CalendarView request, and whether it held every item."""

    items: list[tuple[str, str]]
    complete: bool


def calendar_view_ids(
    account: Account,
    mailbox: str,
    start: dt.datetime,
    end: dt.datetime,
    max_entries: int,
    stats: RequestStats,
) -> ViewPage:
    """FindItem CalendarView (IdOnly): occurrences expanded, ids + change keys only."""
    svc = _lenient(FindItem(account=account, page_size=max_entries))
    payload = svc.get_payload(
        folders=[calendar_id(mailbox)],
        additional_fields=None,
        restriction=None,
        order_fields=None,
        query_string=None,
        shape="IdOnly",
        depth="Shallow",
        calendar_view=CalendarView(start=_ews_dt(start), end=_ews_dt(end), max_items=max_entries),
        page_size=max_entries,
        offset=0,
    )
    message = _only_message(svc, payload, stats)
    root = _container(svc, message, f"{{{MNS}}}RootFolder")
    if isinstance(root, ews.ErrorCalendarViewRangeTooBig | ews.ErrorExceededFindCountLimit):
        return ViewPage(items=[], complete=False)  # the caller splits the range
    root = _raise_if_error(root)
    items_elem = root.find(f"{{{TNS}}}Items")
    items = [] if items_elem is None else [_item_id(e) for e in items_elem]
    last = (root.get("IncludesLastItemInRange") or "true").lower() == "true"
    return ViewPage(items=items, complete=last)


# --- item reads ----------------------------------------------------------------------------


def _read_fields() -> list[FieldPath]:
    names = (
        "subject",
        "start",
        "end",
        "is_all_day",
        "location",
        "body",
        "legacy_free_busy_status",
        "is_cancelled",
        "sensitivity",
        # Who last saved the item and when (read-only; Exchange sends them only when asked).
        "last_modified_name",
        "last_modified_time",
        TAG_FIELD,
    )
    return [FieldPath(field=CalendarItem.get_field_by_fieldname(n)) for n in names]


_TAGS = re.compile(r"<[^>]+>")


def _ask_text_body(payload: Element) -> None:
    """Ask for bodies as plain text (ItemShape/BodyType, right after BaseShape; any version)."""
    shape = payload.find(f"{{{MNS}}}ItemShape")
    base = shape.find(f"{{{TNS}}}BaseShape")
    body_type = create_element("t:BodyType")
    body_type.text = "Text"
    base.addnext(body_type)


def _body_text(elem: Element) -> str:
    text = _text(elem, "TextBody")
    if text is not None:
        return text
    body = elem.find(f"{{{TNS}}}Body")
    if body is None:
        return ""
    value = body.text or ""
    if (body.get("BodyType") or "").upper() == "HTML":
        value = html.unescape(_TAGS.sub("", value)).strip()
    return value


def _tag_value(elem: Element) -> str | None:
    for prop in elem.findall(f"{{{TNS}}}ExtendedProperty"):
        uri = prop.find(f"{{{TNS}}}ExtendedFieldURI")
        if uri is None:
            continue
        same_set = (uri.get("PropertySetId") or "").lower() == TAG_PROPERTY_SET_ID
        if same_set and uri.get("PropertyName") == TAG_PROPERTY_NAME:
            return _text(prop, "Value")
    return None


def row_from_xml(elem: Element) -> ExchangeRow:
    """An exchange-frame row from a CalendarItem element (times as UTC instants)."""
    item_id, change_key = _item_id(elem)
    tag_key, tag_hash = decode_tag(_tag_value(elem))
    start = _parse_dt(_text(elem, "Start"))
    end = _parse_dt(_text(elem, "End"))
    if start is None or end is None:
        raise ews.MalformedResponseError(f"calendar item {item_id} has no Start/End")
    return ExchangeRow(
        item_id=item_id,
        change_key=change_key,
        start=start,
        end=end,
        all_day=_bool(elem, "IsAllDayEvent"),
        subject=_text(elem, "Subject") or "",
        location=_text(elem, "Location") or "",
        body=_body_text(elem),
        show_as=_text(elem, "LegacyFreeBusyStatus") or "Busy",
        is_cancelled=_bool(elem, "IsCancelled"),
        sensitivity=_text(elem, "Sensitivity") or "Normal",
        tag_key=tag_key,
        tag_hash=tag_hash,
        modified_by=(_text(elem, "LastModifiedName") or "").strip() or None,
        modified_at=_parse_dt(_text(elem, "LastModifiedTime")),
    )


def get_rows(
    account: Account, ids: Sequence[str], stats: RequestStats
) -> list[ExchangeRow | Exception]:
    """GetItem for up to BATCH_SIZE ids: one row or one EWS error per id, in order."""
    svc = _lenient(GetItem(account=account))
    payload = svc.get_payload(
        items=[ItemId(id=i) for i in ids],
        additional_fields=_read_fields(),
        shape="IdOnly",
    )
    _ask_text_body(payload)
    stats.add(type(svc).__name__)
    out: list[ExchangeRow | Exception] = []
    for message in _messages(svc, payload):
        found = _container(svc, message, f"{{{MNS}}}Items")
        if isinstance(found, Exception):
            out.append(found)
        else:
            out.extend(row_from_xml(e) for e in found)
    return out


# --- change gate ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncPage:
    """One SyncFolderItems answer: changes as (kind, item id, change key), new state."""

    changes: list[tuple[str, str, str | None]]
    state: str
    complete: bool


def sync_page(account: Account, mailbox: str, state: str | None, stats: RequestStats) -> SyncPage:
    """SyncFolderItems on the calendar (IdOnly): the changes after `state`, and the next state."""
    svc = _lenient(SyncFolderItems(account=account))
    payload = svc.get_payload(
        folder=calendar_id(mailbox),
        shape="IdOnly",
        additional_fields=None,
        sync_state=state,
        ignore=None,
        max_changes_returned=SYNC_PAGE,
        sync_scope=None,
    )
    message = _only_message(svc, payload, stats)
    changes_elem = _container(svc, message, f"{{{MNS}}}Changes")
    if (
        isinstance(changes_elem, Exception)
        and "SyncState" in f"{type(changes_elem).__name__} {changes_elem}"
    ):
        raise SyncStateRejected(f"The sync state of {mailbox} is no longer valid.")
    changes_elem = _raise_if_error(changes_elem)
    new_state = message.findtext(f"{{{MNS}}}SyncState") or ""
    last = (message.findtext(f"{{{MNS}}}IncludesLastItemInRange") or "true").lower() == "true"
    changes: list[tuple[str, str, str | None]] = []
    for change in changes_elem if changes_elem is not True else ():  # True: no changes
        kind = _local(change.tag).lower()  # create | update | delete | readflagchange
        if kind == "readflagchange":
            continue  # read flags do not matter for calendars
        ref = change.find(f"{{{TNS}}}ItemId")
        if ref is None and len(change):
            ref = change[0].find(f"{{{TNS}}}ItemId")
        if ref is not None:
            changes.append((kind, ref.get("Id"), ref.get("ChangeKey")))
    return SyncPage(changes=changes, state=new_state, complete=last)


# --- writes --------------------------------------------------------------------------------

_FIELDS_FOR = {
    "subject": ("subject",),
    "body": ("body",),
    "location": ("location",),
    "start": ("start",),
    "end": ("end",),
    "all_day": ("is_all_day",),
    "timezone": ("_start_timezone", "_end_timezone"),
    "show_as": ("legacy_free_busy_status",),
    "categories": ("categories",),
    "reminder_minutes": ("reminder_is_set", "reminder_minutes_before_start"),
}
DELETE_TYPES = {
    "move_to_deleted_items": "MoveToDeletedItems",
    "soft_delete": "SoftDelete",
    "hard_delete": "HardDelete",
}


def calendar_item(account: Account, action: ExchangeAction) -> CalendarItem:
    """The exchangelib item for a create or update (validated; raises ValueError if invalid)."""
    tz = EWSTimeZone(action.timezone)
    kwargs = {
        "account": account,
        "subject": action.subject,
        "body": Body(action.body) if action.body else None,
        "location": action.location or None,
        "is_all_day": action.all_day,
        "legacy_free_busy_status": action.show_as,
        "categories": list(action.categories) or None,
        "reminder_is_set": action.reminder_minutes is not None,
        "reminder_minutes_before_start": action.reminder_minutes,
        "_start_timezone": tz,
        "_end_timezone": tz,
        TAG_FIELD: encode_tag(action.entry_key, action.content_hash),
    }
    if action.start is not None:
        kwargs["start"] = _ews_dt(action.start)
    if action.end is not None:
        kwargs["end"] = _ews_dt(action.end)
    if action.action == "update":
        kwargs["id"], kwargs["changekey"] = action.item_id, action.change_key
    item = CalendarItem(**kwargs)
    if action.action == "create":
        item.clean(version=account.version)
    elif item.start and item.end and item.end < item.start:
        raise ValueError(f"'end' must be greater than 'start' ({item.start} -> {item.end})")
    return item


def update_fieldnames(action: ExchangeAction) -> list[str]:
    """exchangelib field names to set for an update: the changed fields plus the tag."""
    names: list[str] = []
    for name in action.changed_fields:
        for field in _FIELDS_FOR[name]:
            if field == "reminder_minutes_before_start" and action.reminder_minutes is None:
                continue
            if field not in names:
                names.append(field)
    names.append(TAG_FIELD)
    return names


def _written(svc: EWSService, messages: list[Element]) -> list[Written | Exception]:
    out: list[Written | Exception] = []
    for message in messages:
        found = _container(svc, message, f"{{{MNS}}}Items")
        if isinstance(found, Exception):
            out.append(found)
        elif found is True or not len(found):
            out.append((None, None))
        else:
            out.append(_item_id(found[0]))
    return out


def create_items(
    account: Account, mailbox: str, items: Sequence[CalendarItem], stats: RequestStats
) -> list[Written | Exception]:
    """CreateItem (SaveOnly, SendToNone) in the calendar: (id, change key) or error per item."""
    svc = _lenient(CreateItem(account=account))
    payload = svc.get_payload(
        items=items,
        folder=calendar_id(mailbox),
        message_disposition="SaveOnly",
        send_meeting_invitations="SendToNone",
    )
    stats.add(type(svc).__name__)
    return _written(svc, _messages(svc, payload))


def update_items(
    account: Account, changes: Sequence[tuple[CalendarItem, list[str]]], stats: RequestStats
) -> list[Written | Exception]:
    """UpdateItem guarded by change keys (NeverOverwrite): (id, change key) or error per item."""
    svc = _lenient(UpdateItem(account=account))
    payload = svc.get_payload(
        items=changes,
        conflict_resolution="NeverOverwrite",
        message_disposition="SaveOnly",
        send_meeting_invitations_or_cancellations="SendToNone",
        suppress_read_receipts=True,
    )
    stats.add(type(svc).__name__)
    return _written(svc, _messages(svc, payload))


def delete_items(
    account: Account, ids: Iterable[str], delete_type: str, stats: RequestStats
) -> list[bool | Exception]:
    """DeleteItem with the given DeleteType: True or error per item."""
    svc = _lenient(DeleteItem(account=account))
    payload = svc.get_payload(
        items=[ItemId(id=i) for i in ids],
        delete_type=delete_type,
        send_meeting_cancellations="SendToNone",
        affected_task_occurrences="AllOccurrences",
        suppress_read_receipts=True,
    )
    stats.add(type(svc).__name__)
    out: list[bool | Exception] = []
    for message in _messages(svc, payload):
        found = _container(svc, message, None)
        out.append(found if isinstance(found, Exception) else True)
    return out
