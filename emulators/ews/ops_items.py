"""EWS item operations: FindItem, GetItem, CreateItem, UpdateItem, DeleteItem."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from lxml import etree

from .errors import EwsError
from .model import Item, b64, clone, ext_key, new_item_id, unb64
from .ops_base import BOOL_PROPS, DATETIME_PROPS, Ctx, OperationsBase
from .recurrence import KINDS as RECURRENCE_KINDS
from .recurrence import Occurrence
from .render import (
    View,
    field_name,
    occurrence_id,
    occurrences,
    parse_shape,
    render,
    series_tz,
    view_of,
)
from .restriction import check_searchable, matches
from .xmlutil import child, children, format_dt, local, m, parse_dt, sub, t, text_of

#: The responses to a meeting request CreateItem takes (types.xsd `ArrayOfAllItemsType`).
MEETING_RESPONSES = frozenset({"AcceptItem", "TentativelyAcceptItem", "DeclineItem"})


class ItemOps(OperationsBase):
    """EWS item operations: FindItem, GetItem, CreateItem, UpdateItem, DeleteItem."""

    # --- FindItem -----------------------------------------------------------------------------
    def find_item(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        """FindItem with CalendarView or IndexedPageItemView, restriction and sort."""
        shape = parse_shape(child(req, "ItemShape"))
        cal = child(req, "CalendarView")
        paged = child(req, "IndexedPageItemView")
        restriction = child(req, "Restriction")
        sort = child(req, "SortOrder")

        def one(el: etree._Element, msgs: etree._Element) -> None:
            if cal is not None and (restriction is not None or sort is not None):
                # Exchange expands a CalendarView from its dates alone; a client filters and
                # sorts what it gets (exchangelib's test_view).
                raise EwsError(
                    "ErrorInvalidOperation",
                    "Restrictions and sort order may not be specified for a CalendarView.",
                )
            if restriction is not None:
                check_searchable(restriction)
            mailbox, name = self.resolve_folder(ctx, el)
            role = self.require(ctx, mailbox, name, write=False)
            rights = self.rights(role)
            views: list[View] = []
            for item in self.store.folder_items(mailbox, name):
                views.extend(self.calendar_views(item, cal) if cal is not None else [view_of(item)])
            if restriction is not None and len(restriction):
                views = [v for v in views if matches(restriction[0], v)]
            if cal is not None:
                views.sort(
                    key=lambda v: (v.start or dt.datetime.min.replace(tzinfo=dt.UTC), v.item.id)
                )
            elif sort is not None:
                views = self.sorted_views(views, sort)
            total = len(views)
            if cal is not None:
                limit = int(cal.get("MaxEntriesReturned") or total or 0)
                page, offset_attr, offset = views[:limit], None, 0
            else:
                offset = int(paged.get("Offset", "0")) if paged is not None else 0
                limit = int(paged.get("MaxEntriesReturned", "1000")) if paged is not None else 1000
                if paged is not None and paged.get("BasePoint") == "End":
                    page = views[max(0, total - offset - limit) : total - offset]
                else:
                    page = views[offset : offset + limit]
                offset_attr = str(offset + len(page))
            last = offset + len(page) >= total
            msg = self.ok(msgs, "FindItem")
            attrs = {
                "TotalItemsInView": str(total),
                "IncludesLastItemInRange": "true" if last else "false",
            }
            if offset_attr is not None:
                attrs = {"IndexedPagingOffset": offset_attr, **attrs}
            root = sub(msg, m("RootFolder"), **attrs)
            items = sub(root, t("Items"))
            display = self.display(mailbox)
            for v in page:
                items.append(
                    render(v, shape, for_find=True, mailbox_display=display, rights=rights)
                )

        return self.each("FindItem", children(child(req, "ParentFolderIds")), one)

    def calendar_views(self, item: Item, cal: etree._Element) -> list[View]:
        """Views of an item that overlap a CalendarView window (occurrences for a series)."""
        start = parse_dt(cal.get("StartDate", "1900-01-01T00:00:00Z"))
        end = parse_dt(cal.get("EndDate", "2999-01-01T00:00:00Z"))
        if not item.is_recurring:
            v = view_of(item)
            return [v] if _in_view(v, start, end) else []
        out = []
        horizon = end + dt.timedelta(days=1)
        for occ in occurrences(item, until=horizon):
            if occ.index in item.deleted_occurrences:
                continue
            v = view_of(item, occ)
            if _in_view(v, start, end):
                out.append(v)
        return out

    @staticmethod
    def sorted_views(views: list[View], sort: etree._Element) -> list[View]:
        """Apply a SortOrder (text comparison per FieldOrder)."""
        for order in reversed(children(sort, "FieldOrder")):
            uri = child(order, "FieldURI")
            if uri is None:
                continue
            views = sorted(
                views,
                key=_prop_text(field_name(uri.get("FieldURI", ""))),
                reverse=order.get("Order") == "Descending",
            )
        return views

    # --- GetItem ------------------------------------------------------------------------------
    def get_item(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        """GetItem of items and occurrences in the requested shape."""
        shape = parse_shape(child(req, "ItemShape"))

        def one(el: etree._Element, msgs: etree._Element) -> None:
            item, occ = self.lookup(el)
            role = self.require(ctx, item.mailbox, item.folder, write=False)
            msg = self.ok(msgs, "GetItem")
            items = sub(msg, m("Items"))
            v = view_of(item, occ)
            items.append(
                render(
                    v,
                    shape,
                    for_find=False,
                    mailbox_display=self.display(item.mailbox),
                    rights=self.rights(role),
                )
            )

        return self.each("GetItem", children(child(req, "ItemIds")), one)

    # --- CreateItem ---------------------------------------------------------------------------
    def create_item(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        """CreateItem of calendar items into SavedItemFolderId (default: own calendar)."""
        target = child(req, "SavedItemFolderId")
        resp, msgs = self.response("CreateItem")
        try:
            if target is not None and len(target):
                mailbox, name = self.resolve_folder(ctx, target[0])
            else:
                mailbox, name = self.resolve_folder(
                    ctx, etree.Element(t("DistinguishedFolderId"), Id="calendar")
                )
            self.require(ctx, mailbox, name, write=True)
        except EwsError as err:
            for _ in children(child(req, "Items")) or [None]:
                self.error(msgs, "CreateItem", err)
            return resp
        canonical = self.mailbox_address(mailbox)
        for el in children(child(req, "Items")):
            try:
                if local(el.tag) == "CancelCalendarItem":
                    kind, made_id, made_key = "MeetingCancellation", *self.cancel(ctx, el)
                elif local(el.tag) in MEETING_RESPONSES:
                    self.respond(el)
                else:
                    item = self.new_item(ctx, el, canonical, name)
                    kind, made_id, made_key = "CalendarItem", item.id, item.change_key
            except EwsError as err:
                self.error(msgs, "CreateItem", err)
                continue
            msg = self.ok(msgs, "CreateItem")
            out = sub(sub(msg, m("Items")), t(kind))
            sub(out, t("ItemId"), Id=made_id, ChangeKey=made_key)
        return resp

    def cancel(self, ctx: Ctx, el: etree._Element) -> tuple[str, str]:
        """CancelCalendarItem: the organiser cancels a meeting. Its calendar item (or the one
        occurrence) leaves the calendar as a deletion to Deleted Items does; returns the id and
        change key of the cancellation message, which is not kept (the emulator stores
        calendar items only)."""
        ref = child(el, "ReferenceItemId")
        if ref is None:
            raise EwsError("ErrorMissingInformationReferenceItemId", "ReferenceItemId is missing.")
        item, occ = self.lookup(ref)
        if item.folder != "calendar" or (occ is not None and occ.index in item.deleted_occurrences):
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        self.require(ctx, item.mailbox, item.folder, write=True)
        self.remove(item, occ, "MoveToDeletedItems")
        return new_item_id(), b64("CK:1:cancel")

    def respond(self, el: etree._Element) -> None:
        """AcceptItem, TentativelyAcceptItem, DeclineItem: a response to a meeting request.
        Nothing is ever sent to an emulated mailbox, so there is no request to answer: the
        reference is missing (`ErrorMissingInformationReferenceItemId`, as exchangelib's
        test_meeting_request expects) or names no meeting request."""
        ref = child(el, "ReferenceItemId")
        if ref is None:
            raise EwsError("ErrorMissingInformationReferenceItemId", "ReferenceItemId is missing.")
        raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")

    def new_item(self, ctx: Ctx, el: etree._Element, mailbox: str, folder: str) -> Item:
        """Store one new item from its t:CalendarItem element."""
        if local(el.tag) != "CalendarItem":
            raise EwsError(
                "ErrorInvalidRequest",
                f"This emulator stores calendar items only, not {local(el.tag)}.",
            )
        # Whoever saves it is its LastModifiedName: the owner, a delegate, or with
        # impersonation the impersonated mailbox.
        item = Item(
            id=new_item_id(), mailbox=mailbox, folder=folder, modified_by=self.display(ctx.acting)
        )
        for c in children(el):
            self.set_prop(item.props, item.ext, c)
        uid = item.props.pop("UID", None)
        if uid is not None and uid.text:
            item.uid = uid.text  # the client's: the item's identity across systems
        self.check_refusal(ctx, item)
        self.validate(item.text("Start"), item.text("End"))
        round_all_day(item.props, series_tz(item))
        self.store.items[item.id] = item
        self.store.record(item, "Create")
        return item

    @staticmethod
    def check_refusal(ctx: Ctx, item: Item) -> None:
        """Raise the injected refusal of this item, if a rule matches its subject."""
        err = ctx.refuse(ctx.operation, item.subject)
        if err is not None:
            raise err

    @staticmethod
    def set_prop(
        props: dict[str, etree._Element], ext: dict[str, etree._Element], c: etree._Element
    ) -> str:
        """Store one property element (normalising date-times to UTC); returns its key.

        An extended property goes to `ext` under its ext_key(), any other to `props` by name.
        """
        name = local(c.tag)
        if name == "ExtendedProperty":
            uri = child(c, "ExtendedFieldURI")
            if uri is None:
                raise EwsError(
                    "ErrorSchemaValidation", "ExtendedProperty without ExtendedFieldURI."
                )
            key = ext_key(uri)
            ext[key] = clone(c)
            return "ext:" + key
        copy_ = clone(c)
        if name == "Recurrence":
            check_recurrence(copy_)
        if name in DATETIME_PROPS and copy_.text:
            try:
                copy_.text = format_dt(parse_dt(copy_.text))
            except ValueError as exc:
                raise EwsError(
                    "ErrorInvalidValueForProperty", f"Invalid date-time for {name}."
                ) from exc
        if (name in BOOL_PROPS or name.startswith("Is")) and copy_.text in ("0", "1"):
            # Clients may send xs:boolean as 0/1; Exchange always answers true/false.
            copy_.text = "true" if copy_.text == "1" else "false"
        if name == "Subject" and copy_.text:
            copy_.text = cut_to_units(copy_.text, MAX_SUBJECT_UNITS)
        props[name] = copy_
        return name

    @staticmethod
    def validate(start: str | None, end: str | None) -> None:
        """Exchange refuses items that end before they start."""
        if start and end and parse_dt(end) < parse_dt(start):
            raise EwsError(
                "ErrorCalendarEndDateIsEarlierThanStartDate",
                "The end date is earlier than the start date.",
            )

    # --- UpdateItem ---------------------------------------------------------------------------
    def update_item(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        """UpdateItem honouring ChangeKey and ConflictResolution."""
        policy = req.get("ConflictResolution", "AutoResolve")

        def one(change: etree._Element, msgs: etree._Element) -> None:
            id_el = next((c for c in children(change) if local(c.tag).endswith("ItemId")), None)
            if id_el is None:
                raise EwsError("ErrorInvalidRequest", "ItemChange without an item id.")
            item, occ = self.lookup(id_el)
            self.require(ctx, item.mailbox, item.folder, write=True)
            client_version = self.client_version(id_el.get("ChangeKey"))
            updates = children(child(change, "Updates"))
            touched = [self.update_key(u) for u in updates]
            if client_version is not None and client_version != item.version:
                if policy == "NeverOverwrite":
                    raise EwsError(
                        "ErrorIrresolvableConflict",
                        "The send or update operation could not be performed because the change "
                        "key passed in the request does not match the current change key.",
                    )
                if policy == "AutoResolve":
                    prefix = f"{occ.index}:" if occ else ""
                    if any(
                        item.field_versions.get(prefix + k, 0) > client_version for k in touched
                    ):
                        raise EwsError(
                            "ErrorIrresolvableConflict",
                            "The update conflicts with changes made since that change key.",
                        )
            self.apply_updates(item, occ, updates)
            item.modified_by = self.display(ctx.acting)
            self.store.record(item, "Update")
            msg = self.ok(msgs, "UpdateItem")
            out = sub(sub(msg, m("Items")), t("CalendarItem"))
            oid = occurrence_id(item.id, occ.index) if occ else item.id
            sub(out, t("ItemId"), Id=oid, ChangeKey=item.change_key)
            sub(sub(msg, m("ConflictResults")), t("Count"), "0")

        return self.each("UpdateItem", children(child(req, "ItemChanges")), one)

    @staticmethod
    def client_version(change_key: str | None) -> int | None:
        """The item version a client's change key was issued for."""
        if not change_key:
            return None
        raw = unb64(change_key)
        if not raw or not raw.startswith("CK:"):
            raise EwsError("ErrorInvalidChangeKey", "The change key is invalid.")
        return int(raw.split(":")[1])

    @staticmethod
    def update_key(update: etree._Element) -> str:
        """The property key (element name or ext:...) an update touches."""
        uri = next((c for c in children(update) if local(c.tag).endswith("FieldURI")), None)
        if uri is None:
            raise EwsError("ErrorInvalidRequest", "Update without a field URI.")
        if local(uri.tag) == "ExtendedFieldURI":
            return "ext:" + ext_key(uri)
        return field_name(uri.get("FieldURI", ""))

    def apply_updates(
        self, item: Item, occ: Occurrence | None, updates: list[etree._Element]
    ) -> None:
        """Apply Set/Append/DeleteItemField to an item, or to one occurrence (as an exception)."""
        if occ is None:
            props, ext = dict(item.props), dict(item.ext)
        else:
            props, ext = dict(item.exceptions.get(occ.index, {})), {}
        touched = []
        uid = item.uid
        for u in updates:
            key = self.update_key(u)
            kind = local(u.tag)
            if kind in ("SetItemField", "AppendToItemField"):
                holder = next(
                    (c for c in children(u) if not local(c.tag).endswith("FieldURI")), None
                )
                values = children(holder)
                if not values:
                    raise EwsError("ErrorInvalidRequest", f"{kind} without a value.")
                if key == "UID" and occ is None:
                    uid = values[0].text or item.uid  # the item's identity, as the client sets it
                else:
                    self.set_prop(props, ext, values[0])
            elif kind == "DeleteItemField":
                props.pop(key, None)
                if key.startswith("ext:"):
                    ext.pop(key[4:], None)
            else:
                raise EwsError("ErrorInvalidRequest", f"Unknown update {kind}.")
            touched.append(key)
        if occ is None:
            self.validate(text_of(props.get("Start")), text_of(props.get("End")))
            round_all_day(props, series_tz(item))
            if "Recurrence" in touched:
                item.exceptions.clear()
                item.deleted_occurrences.clear()
            item.props, item.ext, item.uid = props, ext, uid
        else:
            for k, v in ext.items():
                props["ext:" + k] = v
            self.validate(
                text_of(props.get("Start")) or format_dt(occ.start),
                text_of(props.get("End")) or format_dt(occ.end),
            )
            item.exceptions[occ.index] = props
        prefix = f"{occ.index}:" if occ else ""
        item.touch([prefix + k for k in touched])

    # --- DeleteItem ---------------------------------------------------------------------------
    def delete_item(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        """DeleteItem (Hard, Soft, MoveToDeletedItems); a deleted occurrence leaves its series."""
        how = req.get("DeleteType", "MoveToDeletedItems")

        def one(el: etree._Element, msgs: etree._Element) -> None:
            item, occ = self.lookup(el)
            self.require(ctx, item.mailbox, item.folder, write=True)
            # Exchange refuses a change key it did not issue; a stale one still deletes.
            self.client_version(el.get("ChangeKey"))
            self.remove(item, occ, how)
            self.ok(msgs, "DeleteItem")

        return self.each("DeleteItem", children(child(req, "ItemIds")), one)

    def remove(self, item: Item, occ: Occurrence | None, how: str) -> None:
        """Delete an item (HardDelete, SoftDelete, MoveToDeletedItems) or one occurrence."""
        if occ is not None:
            item.exceptions.pop(occ.index, None)
            item.deleted_occurrences.add(occ.index)
            item.touch([f"{occ.index}:deleted"])
            self.store.record(item, "Update")
        elif how == "HardDelete" or item.folder != "calendar":
            self.store.record(item, "Delete")
            del self.store.items[item.id]
        else:
            self.store.record(item, "Delete")
            item.origin_folder = item.folder
            item.folder = (
                "deleteditems" if how == "MoveToDeletedItems" else "recoverableitemsdeletions"
            )
            item.deleted_how = how
            item.touch([])
            self.store.record(item, "Create")


#: Exchange keeps at most 255 characters of a subject (UTF-16 code units) and cuts the rest.
MAX_SUBJECT_UNITS = 255


def cut_to_units(text: str, units: int) -> str:
    """`text` cut to at most `units` UTF-16 code units (as Exchange stores text), never inside
    a surrogate pair."""
    data = text.encode("utf-16-le")
    if len(data) <= 2 * units:
        return text
    kept = data[: 2 * units]
    if 0xD8 <= kept[-1] <= 0xDB:  # the first half of a pair (little-endian: its high byte)
        kept = kept[:-2]
    return kept.decode("utf-16-le")


def _in_view(view: View, start: dt.datetime, end: dt.datetime) -> bool:
    # Exchange's CalendarView includes an item that ends exactly at the view's start (and a
    # zero-length one there), not one that starts exactly at its end.
    return bool(view.start and view.end and view.start < end and view.end >= start)


def round_all_day(props: dict[str, etree._Element], zone: dt.tzinfo) -> None:
    """An all-day item spans whole days of its time zone: Exchange moves its start back and
    its end forward to midnight there."""
    flag = props.get("IsAllDayEvent")
    if flag is None or flag.text != "true":
        return
    for name, forward in (("Start", False), ("End", True)):
        element = props.get(name)
        if element is None or not element.text:
            continue
        local_time = parse_dt(element.text).astimezone(zone)
        midnight = local_time.replace(hour=0, minute=0, second=0, microsecond=0)
        if forward and midnight != local_time:
            midnight = (midnight + dt.timedelta(days=1)).replace(tzinfo=zone)
        element.text = format_dt(midnight.astimezone(dt.UTC))


def _prop_text(name: str) -> Callable[[View], str]:
    """Sort key: the text of a view's property `name` ("" when it is not set)."""
    return lambda view: text_of(view.props.get(name)) or ""


SUPPORTED_PATTERNS = tuple(RECURRENCE_KINDS)
RANGES = ("NoEndRecurrence", "EndDateRecurrence", "NumberedRecurrence")


def check_recurrence(rec: etree._Element) -> None:
    """Refuse recurrence this emulator cannot expand, instead of failing later in a view."""
    kinds = [local(c.tag) for c in children(rec)]
    patterns = [k for k in kinds if k not in RANGES]
    if len(patterns) != 1 or patterns[0] not in SUPPORTED_PATTERNS or len(kinds) != 2:
        raise EwsError(
            "ErrorInvalidValueForProperty",
            f"Recurrence {'/'.join(kinds)} is not supported by this Exchange emulator "
            f"(supported: {', '.join(SUPPORTED_PATTERNS)}).",
        )
