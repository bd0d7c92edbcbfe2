"""EWS SyncFolderItems with signed, opaque sync-state tokens."""

from __future__ import annotations

import hashlib
import hmac
import json

from lxml import etree

from .errors import EwsError
from .model import b64, unb64
from .ops_base import Ctx, OperationsBase
from .render import parse_shape, render, view_of
from .xmlutil import child, children, m, sub, t, text_of


class SyncOps(OperationsBase):
    """EWS SyncFolderItems with signed, opaque sync-state tokens."""

    # --- SyncFolderItems ----------------------------------------------------------------------
    def sync_token(self, key: str, seq: int) -> str:
        """A signed, opaque sync state for a folder log position."""
        payload = b64(json.dumps({"k": key, "s": seq}))
        sig = hmac.new(self.store.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[
            :24
        ]
        return f"{payload}.{sig}"

    def read_token(self, token: str, key: str) -> int:
        """Log position of a sync state issued for this folder, else ErrorInvalidSyncStateData."""
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
        """SyncFolderItems: net Create/Update/Delete changes since the token."""
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
                # A created or updated item that is gone, or has left the folder since, is
                # reported as deleted.
                if kind == "Delete" or item is None or item.folder != name:
                    node = sub(out, t("Delete"))
                    ck = item.change_key if item else "AAAAAA=="
                    sub(node, t("ItemId"), Id=item_id, ChangeKey=ck)
                else:
                    node = sub(out, t(kind))
                    node.append(
                        render(
                            view_of(item),
                            shape,
                            for_find=True,
                            mailbox_display=self.display(mailbox),
                            rights=rights,
                        )
                    )

        return self.each(
            "SyncFolderItems",
            [folder_el[0]] if folder_el is not None and len(folder_el) else [],
            one,
        )
