"""EWS folder and directory operations: ConvertId, GetFolder, FindFolder, ResolveNames."""

from __future__ import annotations

import contextlib

from lxml import etree

from .errors import EwsError
from .model import FOLDER_CLASS, FOLDER_NAMES, FOLDER_PARENT, folder_id, unb64
from .ops_base import Ctx, OperationsBase
from .render import WRITE_RIGHTS
from .xmlutil import child, children, m, sub, t


class FolderOps(OperationsBase):
    """EWS folder and directory operations: ConvertId, GetFolder, FindFolder, ResolveNames."""

    # --- ConvertId ----------------------------------------------------------------------------
    def convert_id(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        """ConvertId: echo ids in the requested format (malformed ids are refused)."""
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
        """A t:Folder / t:CalendarFolder with the caller's EffectiveRights."""
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
        """GetFolder by distinguished id or FolderId."""

        def one(el: etree._Element, msgs: etree._Element) -> None:
            mailbox, name = self.resolve_folder(ctx, el)
            role = self.require(ctx, mailbox, name, write=False)
            msg = self.ok(msgs, "GetFolder")
            folders = sub(msg, m("Folders"))
            canonical = self.mailbox_address(mailbox)
            folders.append(self.folder_element(canonical, name, role))

        return self.each("GetFolder", children(child(req, "FolderIds")), one)

    def find_folder(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        """FindFolder below the given folders (Shallow or Deep, paged)."""
        deep = req.get("Traversal", "Shallow") == "Deep"
        view = child(req, "IndexedPageFolderView")
        offset = int(view.get("Offset", "0")) if view is not None else 0
        limit = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000

        def one(el: etree._Element, msgs: etree._Element) -> None:
            mailbox, name = self.resolve_folder(ctx, el)
            self.require(ctx, mailbox, name, write=False)
            canonical = self.mailbox_address(mailbox)
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
