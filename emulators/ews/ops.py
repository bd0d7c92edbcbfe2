"""The EWS operations: each takes the request element and returns the response element."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from .model import Store
from .ops_base import Ctx
from .ops_delegates import DelegateOps
from .ops_folders import FolderOps
from .ops_items import ItemOps
from .ops_notify import NotifyOps
from .ops_sync import SyncOps

__all__ = ["Ctx", "Operations"]


class Operations(FolderOps, ItemOps, SyncOps, NotifyOps, DelegateOps):
    """All supported EWS operations over a Store, by operation name."""

    def __init__(self, store: Store):
        super().__init__(store)
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
            "Subscribe": self.subscribe,
            "GetEvents": self.get_events,
            "Unsubscribe": self.unsubscribe,
            "GetDelegate": self.get_delegate,
        }
