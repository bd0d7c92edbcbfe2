"""GetDelegate: the delegates of a mailbox, with their permission on its calendar.

As Exchange's GetDelegate operation: the mailbox's owner (signed in, or impersonated) may
read them; others get `ErrorAccessDenied`. Each delegate grant made through the control API
is one `DelegateUser`: its `UserId` (address and display name) and, with
`IncludePermissions`, its `CalendarFolderPermissionLevel` (the grant's role; the other folders
`None`, as delegate grants here cover the calendar only). `UserIds` narrows the answer; a user
who is not a delegate gets `ErrorNotDelegate`.
"""

from __future__ import annotations

from lxml import etree

from .errors import EwsError
from .model import Grant
from .ops_base import Ctx, OperationsBase
from .xmlutil import BODY_NSMAP, child, children, m, sub, t, text_of

_OTHER_FOLDERS = ("Tasks", "Inbox", "Contacts", "Notes", "Journal")


class DelegateOps(OperationsBase):
    """GetDelegate over the store's delegate grants."""

    def get_delegate(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        """GetDelegate: the delegates of the mailbox the request names."""
        resp = etree.Element(m("GetDelegateResponse"), nsmap=BODY_NSMAP)
        try:
            mailbox = self.mailbox_address(text_of(req, "Mailbox", "EmailAddress") or "")
            if ctx.acting.lower() != mailbox.lower():
                raise EwsError(
                    "ErrorAccessDenied", "Only the mailbox's owner may read its delegates."
                )
        except EwsError as err:
            resp.set("ResponseClass", "Error")
            sub(resp, m("MessageText"), err.message)
            sub(resp, m("ResponseCode"), err.code)
            sub(resp, m("DescriptiveLinkKey"), "0")
            return resp
        resp.set("ResponseClass", "Success")
        sub(resp, m("ResponseCode"), "NoError")
        grants = [
            g
            for g in self.store.grants
            if g.kind == "delegate" and g.owner.lower() == mailbox.lower()
        ]
        asked = [text_of(u, "PrimarySmtpAddress") or "" for u in children(child(req, "UserIds"))]
        with_permissions = req.get("IncludePermissions") in ("true", "1")
        rows: list[Grant | str] = (
            [next((g for g in grants if g.grantee.lower() == a.lower()), a) for a in asked]
            if asked
            else list(grants)
        )
        if rows:
            messages = sub(resp, m("ResponseMessages"))
            for row in rows:
                self._delegate(messages, row, with_permissions)
        sub(resp, m("DeliverMeetingRequests"), "DelegatesAndMe")
        return resp

    def _delegate(self, messages: etree._Element, row: Grant | str, permissions: bool) -> None:
        message = sub(messages, m("DelegateUserResponseMessageType"))
        if isinstance(row, str):  # asked for, and not a delegate
            message.set("ResponseClass", "Error")
            sub(message, m("MessageText"), f"{row} is not a delegate of this mailbox.")
            sub(message, m("ResponseCode"), "ErrorNotDelegate")
            return
        message.set("ResponseClass", "Success")
        sub(message, m("ResponseCode"), "NoError")
        user = sub(message, m("DelegateUser"))
        who = sub(user, t("UserId"))
        sub(who, t("PrimarySmtpAddress"), row.grantee)
        sub(who, t("DisplayName"), self.display(row.grantee))
        if permissions:
            levels = sub(user, t("DelegatePermissions"))
            sub(levels, t("CalendarFolderPermissionLevel"), row.calendar_role)
            for folder in _OTHER_FOLDERS:
                sub(levels, t(f"{folder}FolderPermissionLevel"), "None")
        sub(user, t("ReceiveCopiesOfMeetingMessages"), "false")
        sub(user, t("ViewPrivateItems"), "false")
