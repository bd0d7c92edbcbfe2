"""Shared plumbing of the EWS operations: caller context, access rules, addressing, replies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from .errors import EwsError
from .model import FOLDERS, App, Item, Store, parse_folder_id, unb64
from .recurrence import Occurrence
from .render import WRITE_RIGHTS, occurrences, parse_occurrence_id
from .xmlutil import BODY_NSMAP, local, m, sub, t, text_of

READ_ROLES = ("Owner", "Editor", "Reviewer")
WRITE_ROLES = ("Owner", "Editor")
IMPERSONATION_REQUIRED = (
    "ExchangeImpersonation SOAP header must be present for this type of OAuth token."
)
DATETIME_PROPS = ("Start", "End", "ReminderDueBy", "AppointmentReplyTime")
BOOL_PROPS = ("ReminderIsSet", "IsResponseRequested", "AllowNewTimeProposal", "IsOnlineMeeting")

#: Operations whose response messages are ItemInfoResponseMessageType (messages.xsd): an error
#: message carries an empty Items.
ITEM_INFO_OPERATIONS = frozenset({"CreateItem", "GetItem", "UpdateItem", "MoveItem", "CopyItem"})


@dataclass
class Ctx:
    """Who is calling, and on whose behalf."""

    caller: str  # account email, or "app:<client_id>"
    app: App | None = None
    impersonated: str | None = None
    operation: str = ""
    mailbox: str | None = None
    # Injected per-item refusal: (operation, subject) -> the error refusing that item, or None.
    refuse: Callable[[str, str], EwsError | None] = field(default=lambda _op, _subject: None)

    @property
    def acting(self) -> str:
        """The mailbox identity the request acts as."""
        return self.impersonated or self.caller


class OperationsBase:
    """Access checks, folder/item addressing and response-message helpers."""

    def __init__(self, store: Store):
        self.store = store

    # --- access -------------------------------------------------------------------------------
    def mailbox_address(self, mailbox: str) -> str:
        """A mailbox's address as its account spells it; ErrorNonExistentMailbox when none."""
        acct = self.store.account(mailbox)
        if acct is None:
            raise EwsError(
                "ErrorNonExistentMailbox",
                f"The SMTP address has no mailbox associated with it: {mailbox}",
            )
        return acct["email"]

    def role(self, ctx: Ctx, mailbox: str, folder: str = "calendar") -> str:
        """The caller's role on a mailbox folder: Owner, Editor, Reviewer (raises when none)."""
        address = self.mailbox_address(mailbox)
        if ctx.mailbox is None:
            ctx.mailbox = address
        if ctx.acting.lower() == mailbox.lower():
            return "Owner"
        grant = self.store.find_grant(mailbox, ctx.acting, "delegate")
        role = grant.calendar_role if grant else "None"
        if role in ("Editor", "Reviewer") and folder in ("calendar", "root", "msgfolderroot"):
            return role
        raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    def require(self, ctx: Ctx, mailbox: str, folder: str, write: bool) -> str:
        """The caller's role, raising ErrorAccessDenied when it does not allow the access."""
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
        """EffectiveRights flags a role grants on a folder."""
        if role == "Owner":
            return {r: True for r in (*WRITE_RIGHTS, "Read", "ViewPrivateItems")}
        if folder in ("root", "msgfolderroot"):
            return {"Read": False}
        if role == "Editor":
            return {"CreateContents": True, "Delete": True, "Modify": True, "Read": True}
        return {"Read": True}

    def display(self, mailbox: str) -> str:
        """Display name of a mailbox: its account's, or the address' local part."""
        acct = self.store.account(mailbox)
        return (acct.get("name") if acct else None) or mailbox.split("@")[0]

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
        """An empty {op}Response with its ResponseMessages container."""
        resp = etree.Element(m(f"{op}Response"), nsmap=BODY_NSMAP)
        return resp, sub(resp, m("ResponseMessages"))

    @staticmethod
    def ok(parent: etree._Element, op: str) -> etree._Element:
        """Append a successful response message."""
        msg = sub(parent, m(f"{op}ResponseMessage"), ResponseClass="Success")
        sub(msg, m("ResponseCode"), "NoError")
        return msg

    @staticmethod
    def error(parent: etree._Element, op: str, err: EwsError) -> etree._Element:
        """Append an error response message for an EwsError."""
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
        if op in ITEM_INFO_OPERATIONS:
            sub(msg, m("Items"))  # required by the schema (ItemInfoResponseMessageType), empty
        return msg

    def each(
        self,
        op: str,
        elems: list[etree._Element],
        fn: Callable[[etree._Element, etree._Element], None],
    ) -> etree._Element:
        """One response message per request element; EwsError becomes an error message.

        `fn(element, messages)` appends the element's success message to `messages`.
        """
        resp, msgs = self.response(op)
        for el in elems:
            try:
                fn(el, msgs)
            except EwsError as err:
                self.error(msgs, op, err)
        return resp
