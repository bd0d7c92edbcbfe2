"""The EWS operations: each takes the request element and returns the response element."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from .errors import EwsError
from .model import (
    FOLDER_CLASS,
    FOLDER_NAMES,
    FOLDER_PARENT,
    FOLDERS,
    App,
    Item,
    Store,
    b64,
    clone,
    ext_key,
    folder_id,
    new_item_id,
    parse_folder_id,
    unb64,
)
from .recurrence import Occurrence
from .render import (
    WRITE_RIGHTS,
    View,
    field_name,
    occurrence_id,
    occurrences,
    parse_occurrence_id,
    parse_shape,
    render,
    view_of,
)
from .restriction import matches
from .xmlutil import (
    BODY_NSMAP,
    child,
    children,
    format_dt,
    local,
    m,
    parse_dt,
    sub,
    t,
    text_of,
)

READ_ROLES = ("Owner", "Editor", "Reviewer")
WRITE_ROLES = ("Owner", "Editor")
IMPERSONATION_REQUIRED = (
    "ExchangeImpersonation SOAP header must be present for this type of OAuth token."
)
DATETIME_PROPS = ("Start", "End", "ReminderDueBy", "AppointmentReplyTime")
BOOL_PROPS = ("ReminderIsSet", "IsResponseRequested", "AllowNewTimeProposal", "IsOnlineMeeting")


@dataclass
class Ctx:
    """Who is calling, and on whose behalf."""

    caller: str  # account email, or "app:<client_id>"
    app: App | None = None
    impersonated: str | None = None
    operation: str = ""
    mailbox: str | None = None
    refusals: list[dict] = field(default_factory=list)

    @property
    def acting(self) -> str:
        """The mailbox identity the request acts as."""
        return self.impersonated or self.caller


class Operations:
    """EWS operations over a Store."""

    def __init__(self, store: Store):
        self.store = store
        self.handlers: dict[str, Callable[[Ctx, etree._Element], etree._Element]] = {
            "ConvertId": self.convert_id,
            "GetFolder": self.get_folder,
            "FindFolder": self.find_folder,
            "FindItem": self.find_item,
            "GetItem": self.get_item,
            "CreateItem": self.create_item,
            "UpdateItem": self.update_item,
            "DeleteItem": self.delete_item,
            "SyncFolderItems": self.sync_folder_items,
            "ResolveNames": self.resolve_names,
        }

    # --- access -------------------------------------------------------------------------------
    def role(self, ctx: Ctx, mailbox: str, folder: str = "calendar") -> str:
        """The caller's role on a mailbox folder: Owner, Editor, Reviewer (raises when none)."""
        acct = self.store.account(mailbox)
        if acct is None:
            raise EwsError(
                "ErrorNonExistentMailbox",
                f"The SMTP address has no mailbox associated with it: {mailbox}",
            )
        if ctx.mailbox is None:
            ctx.mailbox = acct["email"]
        if ctx.acting.lower() == mailbox.lower():
            return "Owner"
        grant = self.store.find_grant(mailbox, ctx.acting, "delegate")
        role = grant.calendar_role if grant else "None"
        if role in ("Editor", "Reviewer") and folder in ("calendar", "root", "msgfolderroot"):
            return role
        raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    def require(self, ctx: Ctx, mailbox: str, folder: str, write: bool) -> str:
        role = self.role(ctx, mailbox, folder)
        if write and role not in WRITE_ROLES:
            raise EwsError(
                "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        if folder in ("root", "msgfolderroot") and role != "Owner" and write:
            raise EwsError(
                "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        return role

    @staticmethod
    def rights(role: str, folder: str = "calendar") -> dict[str, bool]:
        if role == "Owner":
            return {r: True for r in (*WRITE_RIGHTS, "Read", "ViewPrivateItems")}
        if folder in ("root", "msgfolderroot"):
            return {"Read": False}
        if role == "Editor":
            return {"CreateContents": True, "Delete": True, "Modify": True, "Read": True}
        return {"Read": True}

    def display(self, mailbox: str) -> str:
        return mailbox.split("@")[0]

    # --- folder and item addressing -----------------------------------------------------------
    def resolve_folder(self, ctx: Ctx, el: etree._Element) -> tuple[str, str]:
        """(mailbox, folder name) of a t:DistinguishedFolderId or t:FolderId."""
        if local(el.tag) == "DistinguishedFolderId":
            name = el.get("Id", "")
            mailbox = text_of(el, "Mailbox", "EmailAddress") or ctx.acting
            if mailbox.startswith("app:"):
                raise EwsError(
                    "ErrorInvalidExchangeImpersonationHeaderData",
                    IMPERSONATION_REQUIRED,
                )
            if name not in FOLDERS:
                self.role(ctx, mailbox, "root")
                raise EwsError(
                    "ErrorFolderNotFound", f"The specified folder '{name}' could not be found."
                )
            return mailbox, name
        if local(el.tag) == "FolderId":
            parsed = parse_folder_id(el.get("Id", ""))
            if parsed is None:
                raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
            mailbox, name = parsed
            if self.store.account(mailbox) is None:
                raise EwsError(
                    "ErrorFolderNotFound", "The specified folder could not be found in the store."
                )
            return mailbox, name
        raise EwsError("ErrorInvalidRequest", f"Unexpected folder element {local(el.tag)}")

    def lookup(self, el: etree._Element) -> tuple[Item, Occurrence | None]:
        """Item (and occurrence) named by ItemId, OccurrenceItemId or RecurringMasterItemId."""
        kind = local(el.tag)
        if kind == "OccurrenceItemId":
            master = self._item(el.get("RecurringMasterId", ""))
            return master, self._occurrence(master, int(el.get("InstanceIndex", "0")))
        if kind == "RecurringMasterItemId":
            master, _ = self.lookup(etree.Element(t("ItemId"), Id=el.get("OccurrenceId", "")))
            return master, None
        value = el.get("Id", "")
        occ = parse_occurrence_id(value)
        if occ is not None:
            master = self._item(occ[0])
            return master, self._occurrence(master, occ[1])
        return self._item(value), None

    def _item(self, value: str) -> Item:
        raw = unb64(value)
        if raw is None or not raw.startswith("I:"):
            raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
        item = self.store.items.get(value)
        if item is None:
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        return item

    def _occurrence(self, master: Item, index: int) -> Occurrence:
        if index in master.deleted_occurrences:
            raise EwsError(
                "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                "Occurrence index is out of recurrence range or was deleted.",
            )
        for o in occurrences(master, until=None) if master.is_recurring else []:
            if o.index == index:
                return o
            if o.index > index:
                break
        raise EwsError(
            "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
            "Occurrence index is out of range.",
        )

    # --- response helpers ---------------------------------------------------------------------
    @staticmethod
    def response(op: str) -> tuple[etree._Element, etree._Element]:
        resp = etree.Element(m(f"{op}Response"), nsmap=BODY_NSMAP)
        return resp, sub(resp, m("ResponseMessages"))

    @staticmethod
    def ok(parent: etree._Element, op: str) -> etree._Element:
        msg = sub(parent, m(f"{op}ResponseMessage"), ResponseClass="Success")
        sub(msg, m("ResponseCode"), "NoError")
        return msg

    @staticmethod
    def error(parent: etree._Element, op: str, err: EwsError) -> etree._Element:
        msg = sub(parent, m(f"{op}ResponseMessage"), ResponseClass="Error")
        sub(msg, m("MessageText"), err.message)
        sub(msg, m("ResponseCode"), err.code)
        sub(msg, m("DescriptiveLinkKey"), "0")
        if err.values:
            mx = sub(msg, m("MessageXml"))
            for k, v in err.values.items():
                sub(mx, t("Value"), v, Name=k)
        if op == "SyncFolderItems":
            # Exchange keeps these (empty) in error messages too, and clients read them.
            sub(msg, m("SyncState"))
            sub(msg, m("IncludesLastItemInRange"), "true")
        return msg

    def each(self, op: str, elems: list, fn: Callable) -> etree._Element:
        """One response message per request element; EwsError becomes an error message."""
        resp, msgs = self.response(op)
        for el in elems:
            try:
                fn(el, msgs)
            except EwsError as err:
                self.error(msgs, op, err)
        return resp

    # --- ConvertId ----------------------------------------------------------------------------
    def convert_id(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        fmt = req.get("DestinationFormat", "EwsId")

        def one(el: etree._Element, msgs: etree._Element) -> None:
            value = el.get("Id", "")
            raw = unb64(value)
            if raw is None or raw[:2] not in ("I:", "F:", "O:"):
                raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
            msg = self.ok(msgs, "ConvertId")
            alt = sub(msg, m("AlternateId"), Format=fmt, Id=value, Mailbox=el.get("Mailbox", ""))
            alt.set("{http://www.w3.org/2001/XMLSchema-instance}type", "t:AlternateIdType")

        return self.each("ConvertId", children(child(req, "SourceIds")), one)

    # --- folders ------------------------------------------------------------------------------
    def folder_element(self, mailbox: str, name: str, role: str) -> etree._Element:
        tag = "CalendarFolder" if name == "calendar" else "Folder"
        el = etree.Element(t(tag))
        sub(el, t("FolderId"), Id=folder_id(mailbox, name), ChangeKey="AQAAAA==")
        parent = FOLDER_PARENT.get(name)
        if parent:
            sub(el, t("ParentFolderId"), Id=folder_id(mailbox, parent), ChangeKey="AQAAAA==")
        if name in FOLDER_CLASS:
            sub(el, t("FolderClass"), FOLDER_CLASS[name])
        sub(el, t("DisplayName"), FOLDER_NAMES[name])
        sub(el, t("TotalCount"), str(len(self.store.folder_items(mailbox, name))))
        kids = [f for f, p in FOLDER_PARENT.items() if p == name]
        sub(el, t("ChildFolderCount"), str(len(kids)))
        rights = sub(el, t("EffectiveRights"))
        granted = self.rights(role, name)
        for r in (*WRITE_RIGHTS, "Read", "ViewPrivateItems"):
            sub(rights, t(r), "true" if granted.get(r) else "false")
        if tag == "Folder":
            sub(el, t("UnreadCount"), "0")
        return el

    def get_folder(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        def one(el: etree._Element, msgs: etree._Element) -> None:
            mailbox, name = self.resolve_folder(ctx, el)
            role = self.require(ctx, mailbox, name, write=False)
            msg = self.ok(msgs, "GetFolder")
            folders = sub(msg, m("Folders"))
            canonical = self.store.account(mailbox)["email"]  # type: ignore[index]
            folders.append(self.folder_element(canonical, name, role))

        return self.each("GetFolder", children(child(req, "FolderIds")), one)

    def find_folder(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        deep = req.get("Traversal", "Shallow") == "Deep"
        view = child(req, "IndexedPageFolderView")
        offset = int(view.get("Offset", "0")) if view is not None else 0
        limit = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000

        def one(el: etree._Element, msgs: etree._Element) -> None:
            mailbox, name = self.resolve_folder(ctx, el)
            self.require(ctx, mailbox, name, write=False)
            canonical = self.store.account(mailbox)["email"]  # type: ignore[index]
            found: list[tuple[str, str]] = []
            todo = [name]
            while todo:
                cur = todo.pop(0)
                for f, p in FOLDER_PARENT.items():
                    if p != cur:
                        continue
                    with contextlib.suppress(EwsError):
                        found.append((f, self.role(ctx, canonical, f)))
                    if deep:
                        todo.append(f)
            page = found[offset : offset + limit]
            msg = self.ok(msgs, "FindFolder")
            last = offset + len(page) >= len(found)
            root = sub(
                msg,
                m("RootFolder"),
                IndexedPagingOffset=str(offset + len(page)),
                TotalItemsInView=str(len(found)),
                IncludesLastItemInRange="true" if last else "false",
            )
            folders = sub(root, t("Folders"))
            for f, role in page:
                folders.append(self.folder_element(canonical, f, role))

        return self.each("FindFolder", children(child(req, "ParentFolderIds")), one)

    # --- FindItem -----------------------------------------------------------------------------
    def find_item(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        shape = parse_shape(child(req, "ItemShape"))
        cal = child(req, "CalendarView")
        paged = child(req, "IndexedPageItemView")
        restriction = child(req, "Restriction")
        sort = child(req, "SortOrder")

        def one(el: etree._Element, msgs: etree._Element) -> None:
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
            return [v] if v.start and v.end and v.start < end and v.end > start else []
        out = []
        horizon = end + dt.timedelta(days=1)
        for occ in occurrences(item, until=horizon):
            if occ.index in item.deleted_occurrences:
                continue
            v = view_of(item, occ)
            if v.start and v.end and (v.start < end and v.end > start):
                out.append(v)
        return out

    @staticmethod
    def sorted_views(views: list[View], sort: etree._Element) -> list[View]:
        for order in reversed(children(sort, "FieldOrder")):
            uri = child(order, "FieldURI")
            if uri is None:
                continue
            name = field_name(uri.get("FieldURI", ""))
            views = sorted(
                views,
                key=lambda v, n=name: text_of(v.props.get(n)) or "",
                reverse=order.get("Order") == "Descending",
            )
        return views

    # --- GetItem ------------------------------------------------------------------------------
    def get_item(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        shape = parse_shape(child(req, "ItemShape"))

        def one(el: etree._Element, msgs: etree._Element) -> None:
            item, occ = self.lookup(el)
            role = self.require(ctx, item.mailbox, "calendar", write=False)
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
        canonical = self.store.account(mailbox)["email"]  # type: ignore[index]
        for el in children(child(req, "Items")):
            try:
                item = self.new_item(ctx, el, canonical, name)
            except EwsError as err:
                self.error(msgs, "CreateItem", err)
                continue
            msg = self.ok(msgs, "CreateItem")
            out = sub(sub(msg, m("Items")), t("CalendarItem"))
            sub(out, t("ItemId"), Id=item.id, ChangeKey=item.change_key)
        return resp

    def new_item(self, ctx: Ctx, el: etree._Element, mailbox: str, folder: str) -> Item:
        if local(el.tag) != "CalendarItem":
            raise EwsError(
                "ErrorInvalidRequest",
                f"This emulator stores calendar items only, not {local(el.tag)}.",
            )
        item = Item(id=new_item_id(), mailbox=mailbox, folder=folder)
        for c in children(el):
            self.set_prop(item.props, item.ext, c)
        self.check_refusal(ctx, item)
        self.validate(item.text("Start"), item.text("End"))
        self.store.items[item.id] = item
        self.store.record(item, "Create")
        return item

    def check_refusal(self, ctx: Ctx, item: Item) -> None:
        for rule in ctx.refusals:
            if re.search(rule.get("subject_matches") or "", item.subject):
                raise EwsError(
                    rule.get("response_code") or "ErrorInvalidValueForProperty",
                    rule.get("message") or f"The item '{item.subject}' was refused.",
                )

    @staticmethod
    def set_prop(props: dict, ext: dict, c: etree._Element) -> str:
        """Store one property element (normalising date-times to UTC); returns its key."""
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
            self.store.record(item, "Update")
            msg = self.ok(msgs, "UpdateItem")
            out = sub(sub(msg, m("Items")), t("CalendarItem"))
            oid = occurrence_id(item.id, occ.index) if occ else item.id
            sub(out, t("ItemId"), Id=oid, ChangeKey=item.change_key)
            sub(sub(msg, m("ConflictResults")), t("Count"), "0")

        return self.each("UpdateItem", children(child(req, "ItemChanges")), one)

    @staticmethod
    def client_version(change_key: str | None) -> int | None:
        if not change_key:
            return None
        raw = unb64(change_key)
        if not raw or not raw.startswith("CK:"):
            raise EwsError("ErrorInvalidChangeKey", "The change key is invalid.")
        return int(raw.split(":")[1])

    @staticmethod
    def update_key(update: etree._Element) -> str:
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
            if "Recurrence" in touched:
                item.exceptions.clear()
                item.deleted_occurrences.clear()
            item.props, item.ext = props, ext
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
        how = req.get("DeleteType", "MoveToDeletedItems")

        def one(el: etree._Element, msgs: etree._Element) -> None:
            item, occ = self.lookup(el)
            self.require(ctx, item.mailbox, item.folder, write=True)
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
            self.ok(msgs, "DeleteItem")

        return self.each("DeleteItem", children(child(req, "ItemIds")), one)

    # --- SyncFolderItems ----------------------------------------------------------------------
    def sync_token(self, key: str, seq: int) -> str:
        payload = b64(json.dumps({"k": key, "s": seq}))
        sig = hmac.new(self.store.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[
            :24
        ]
        return f"{payload}.{sig}"

    def read_token(self, token: str, key: str) -> int:
        payload, _, sig = token.strip().partition(".")
        good = hmac.new(self.store.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[
            :24
        ]
        raw = unb64(payload)
        if not sig or not hmac.compare_digest(sig, good) or raw is None:
            raise EwsError(
                "ErrorInvalidSyncStateData",
                "Synchronization state data is corrupt or otherwise invalid.",
            )
        data = json.loads(raw)
        if data.get("k") != key:
            raise EwsError(
                "ErrorInvalidSyncStateData", "The synchronization state belongs to another folder."
            )
        return int(data["s"])

    def sync_folder_items(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        shape = parse_shape(child(req, "ItemShape"))
        folder_el = child(req, "SyncFolderId")
        token = text_of(req, "SyncState")
        max_changes = int(text_of(req, "MaxChangesReturned") or "100")
        ignore = {c.get("Id") for c in children(child(req, "Ignore"))}

        def one(el: etree._Element, msgs: etree._Element) -> None:
            mailbox, name = self.resolve_folder(ctx, el)
            role = self.require(ctx, mailbox, name, write=False)
            key = f"{mailbox.lower()}:{name}"
            since = self.read_token(token, key) if token else 0
            changes: dict[str, str] = {}
            last_seq = since
            done = True
            for seq, item_id, kind in self.store.log.get(key, []):
                if seq <= since:
                    continue
                if item_id not in changes and len(changes) >= max_changes:
                    done = False
                    break
                prev = changes.get(item_id)
                if kind == "Delete":
                    if prev == "Create":
                        changes.pop(item_id)
                    else:
                        changes[item_id] = "Delete"
                elif kind == "Create":
                    changes[item_id] = "Create" if prev != "Delete" else "Update"
                elif prev is None:
                    changes[item_id] = "Update"
                last_seq = seq
            msg = self.ok(msgs, "SyncFolderItems")
            sub(msg, m("SyncState"), self.sync_token(key, last_seq))
            sub(msg, m("IncludesLastItemInRange"), "true" if done else "false")
            out = sub(msg, m("Changes"))
            rights = self.rights(role)
            for item_id, kind in changes.items():
                if item_id in ignore:
                    continue
                item = self.store.items.get(item_id)
                if kind != "Delete" and (item is None or item.folder != name):
                    kind = "Delete"
                node = sub(out, t(kind))
                if kind == "Delete":
                    ck = item.change_key if item else "AAAAAA=="
                    sub(node, t("ItemId"), Id=item_id, ChangeKey=ck)
                else:
                    node.append(
                        render(
                            view_of(item),
                            shape,
                            for_find=True,
                            mailbox_display=self.display(mailbox),
                            rights=rights,
                        )  # type: ignore[arg-type]
                    )

        return self.each(
            "SyncFolderItems",
            [folder_el[0]] if folder_el is not None and len(folder_el) else [],
            one,
        )

    # --- ResolveNames -------------------------------------------------------------------------
    def resolve_names(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        """One response message per UnresolvedEntry: the matching mailboxes."""
        resp, msgs = self.response("ResolveNames")
        for entry_el in children(req, "UnresolvedEntry"):
            self._resolve_one(msgs, (entry_el.text or "").strip())
        return resp

    def _resolve_one(self, msgs: etree._Element, entry: str) -> None:
        query = (entry[5:] if entry.lower().startswith("smtp:") else entry).lower()
        hits = [
            a["email"]
            for a in self.store.accounts.values()
            if query and (a["email"].lower() == query or a["email"].lower().startswith(query))
        ]
        if not hits:
            err = EwsError("ErrorNameResolutionNoResults", "No results were found.")
            self.error(msgs, "ResolveNames", err)
            return
        hits = [h for h in hits if h.lower() == query] or hits
        if len(hits) > 1:
            msg = sub(msgs, m("ResolveNamesResponseMessage"), ResponseClass="Warning")
            sub(msg, m("MessageText"), "Multiple results were found.")
            sub(msg, m("ResponseCode"), "ErrorNameResolutionMultipleResults")
            sub(msg, m("DescriptiveLinkKey"), "0")
        else:
            msg = self.ok(msgs, "ResolveNames")
        rs = sub(
            msg, m("ResolutionSet"), TotalItemsInView=str(len(hits)), IncludesLastItemInRange="true"
        )
        for h in hits:
            mb = sub(sub(rs, t("Resolution")), t("Mailbox"))
            sub(mb, t("Name"), self.display(h))
            sub(mb, t("EmailAddress"), h)
            sub(mb, t("RoutingType"), "SMTP")
            sub(mb, t("MailboxType"), "Mailbox")


SUPPORTED_PATTERNS = ("DailyRecurrence", "WeeklyRecurrence", "AbsoluteMonthlyRecurrence")
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
