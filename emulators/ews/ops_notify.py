"""Notifications: pull subscriptions (Subscribe, GetEvents, Unsubscribe).

As Exchange (Microsoft's "Notification subscriptions, mailbox events, and EWS in Exchange"):
- a subscription watches folders of one mailbox (several mailboxes in one request are
  `ErrorInvalidSubscriptionRequest`) for the event types it names;
- a watermark marks a place in the mailbox's stream of events: GetEvents returns what
  happened after it and was not delivered yet, at most 50 events a call (`MoreEvents` says
  whether more wait), or a `StatusEvent` carrying the current watermark when nothing did;
  Subscribe with a `Watermark` starts a new subscription from that place (to resume after
  a restart);
- a pull subscription lapses when no GetEvents reaches it within its `Timeout` (minutes):
  the next call gets `ErrorExpiredSubscription` and the subscription is gone;
- a subscription belongs to whoever made it (`ErrorSubscriptionAccessDenied` for others);
- when the server loses events it had not delivered (the control API's `lose_events()`
  stands for that), the subscription's next read gets `ErrorMissedNotificationEvents` and the
  subscription ends: the client subscribes again and resynchronises.

Events come from the same per-folder change log SyncFolderItems reads: a creation is a
`CreatedEvent`, a change a `ModifiedEvent`, a hard deletion a `DeletedEvent`, and a deletion
that moves the item to Deleted Items or Recoverable Items a `MovedEvent` (with `OldItemId`
and `OldParentFolderId`). Subscriptions live in memory: a restarted emulator has none, as an
Exchange server that lost them (clients then get `ErrorSubscriptionNotFound`).
"""

from __future__ import annotations

import bisect
import datetime as dt
import secrets
import time
from dataclasses import dataclass, field

from lxml import etree

from .errors import EwsError
from .model import FOLDERS, b64, folder_id, unb64
from .ops_base import Ctx, OperationsBase
from .push import Pusher, check_push_url
from .xmlutil import child, children, format_dt, local, m, sub, t, text_of

MISSED = "ErrorMissedNotificationEvents"
#: Events one GetEvents answer carries at most (Exchange's page of events).
EVENTS_PER_CALL = 50
_KINDS = {"Create": "CreatedEvent", "Update": "ModifiedEvent", "Delete": "DeletedEvent"}
_MOVED_TO = ("deleteditems", "recoverableitemsdeletions")


@dataclass
class Subscription:
    """One subscription: whose, on which folders of which mailbox, and where it has got to."""

    id: str
    kind: str  # "pull" or "streaming"
    owner: str  # the caller that made it (lower-case)
    mailbox: str
    folders: tuple[str, ...]
    event_types: frozenset[str]
    watermark: int  # the change-log sequence number events are delivered after
    timeout_s: float = 0.0  # pull: lapses this long after the last GetEvents
    touched: float = field(default_factory=time.monotonic)
    expired: bool = False
    missed: bool = False  # the server lost events it had not delivered yet
    url: str = ""  # push: where notifications go
    failures: int = 0  # push: deliveries that failed in a row

    def lapsed(self, now: float) -> bool:  # push subscriptions end by their subscriber
        return self.expired or (self.kind == "pull" and now - self.touched > self.timeout_s)


def _after(log: list[tuple[int, str, str]], seq: int) -> list[tuple[int, str, str]]:
    # A change log is in sequence order: an open stream polls it often, and reads only the end.
    return log[bisect.bisect_right(log, seq, key=lambda entry: entry[0]) :]


def watermark_text(seq: int) -> str:
    """The opaque watermark of a place in the change log."""
    return b64(f"WM:{seq}")


def watermark_seq(text: str) -> int:
    raw = unb64(text.strip())
    if not raw or not raw.startswith("WM:") or not raw[3:].isdigit():
        raise EwsError("ErrorInvalidWatermark", "The watermark is invalid.")
    return int(raw[3:])


class NotifyOps(OperationsBase):
    """Subscribe, GetEvents and Unsubscribe over the store's change log."""

    pusher: Pusher

    @property
    def subscriptions(self) -> dict[str, Subscription]:
        """The store's live subscriptions (reset with it)."""
        return self.store.subscriptions

    def subscribe(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        """Subscribe: a pull or streaming subscription on folders of one mailbox."""
        resp, msgs = self.response("Subscribe")
        request = children(req)[0]
        kind = {
            "PullSubscriptionRequest": "pull",
            "StreamingSubscriptionRequest": "streaming",
            "PushSubscriptionRequest": "push",
        }
        try:
            if local(request.tag) not in kind:
                raise EwsError("ErrorInvalidSubscriptionRequest", f"No {local(request.tag)}.")
            subscription = self._new_subscription(ctx, request, kind[local(request.tag)])
        except EwsError as err:
            self.error(msgs, "Subscribe", err)
            return resp
        self.subscriptions[subscription.id] = subscription
        if subscription.kind == "push":
            self.pusher.ensure_running()
        msg = self.ok(msgs, "Subscribe")
        sub(msg, m("SubscriptionId"), subscription.id)
        if subscription.kind in ("pull", "push"):
            sub(msg, m("Watermark"), watermark_text(subscription.watermark))
        return resp

    def _new_subscription(self, ctx: Ctx, request: etree._Element, kind: str) -> Subscription:
        targets = [self.resolve_folder(ctx, f) for f in children(child(request, "FolderIds"))]
        if request.get("SubscribeToAllFolders") in ("true", "1"):
            targets = [(ctx.acting, name) for name in FOLDERS] + targets
        mailboxes = {mailbox.lower() for mailbox, _ in targets}
        if len(mailboxes) != 1:
            raise EwsError(
                "ErrorInvalidSubscriptionRequest",
                "A subscription can watch the folders of one mailbox only.",
            )
        mailbox = self.mailbox_address(targets[0][0])
        for _, folder in targets:
            self.require(ctx, mailbox, folder, write=False)
        wanted = frozenset(text_of(e) or "" for e in children(child(request, "EventTypes")))
        given = child(request, "Watermark")
        start = watermark_seq(given.text or "") if given is not None else self.store.seq
        # A pull subscription lapses after Timeout; a push one reports every StatusFrequency.
        minutes = int(text_of(request, "Timeout") or text_of(request, "StatusFrequency") or "0")
        url = text_of(request, "URL") or ""
        if kind == "push":
            check_push_url(url)
        return Subscription(
            id=b64(f"S:{secrets.token_hex(12)}"),
            kind=kind,
            owner=ctx.caller.lower(),
            mailbox=mailbox,
            folders=tuple(dict.fromkeys(folder for _, folder in targets)),
            event_types=wanted,
            watermark=start,
            timeout_s=minutes * 60.0,
            url=url,
        )

    def subscription(self, ctx: Ctx, subscription_id: str) -> Subscription:
        """The caller's live subscription of that id; the error Exchange gives otherwise."""
        found = self.subscriptions.get(subscription_id.strip())
        if found is None:
            raise EwsError("ErrorSubscriptionNotFound", "The specified subscription was not found.")
        if found.owner != ctx.caller.lower():
            raise EwsError(
                "ErrorSubscriptionAccessDenied",
                "Only the account that created a subscription can use it.",
            )
        if found.lapsed(time.monotonic()):
            del self.subscriptions[found.id]
            raise EwsError("ErrorExpiredSubscription", "The subscription has expired.")
        if found.missed:
            # The subscription cannot go on: the client makes a new one and reads the folder
            # again (SyncFolderItems) to learn what it missed.
            del self.subscriptions[found.id]
            raise EwsError(MISSED, "Events were lost; subscribe again and resynchronise.")
        return found

    def get_events(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        """GetEvents: the events after a watermark of a pull subscription."""
        resp, msgs = self.response("GetEvents")
        try:
            subscription = self.subscription(ctx, text_of(req, "SubscriptionId") or "")
            if subscription.kind != "pull":
                raise EwsError(
                    "ErrorInvalidSubscription", "GetEvents reads pull subscriptions only."
                )
            # Delivered events are not delivered again: a client may send the same watermark
            # for each page (exchangelib does while MoreEvents is true). A subscription made
            # with a watermark is how a client goes back to a place.
            after = max(watermark_seq(text_of(req, "Watermark") or ""), subscription.watermark)
        except EwsError as err:
            self.error(msgs, "GetEvents", err)
            return resp
        subscription.touched = time.monotonic()
        events = self.events_after(subscription, after)
        page = events[:EVENTS_PER_CALL]
        note = sub(self.ok(msgs, "GetEvents"), m("Notification"))
        self.notification(note, subscription, after, page, more=len(events) > len(page))
        if page:
            subscription.watermark = page[-1][0]
        return resp

    def unsubscribe(self, ctx: Ctx, req: etree._Element) -> etree._Element:
        """Unsubscribe: end a pull or streaming subscription."""
        resp, msgs = self.response("Unsubscribe")
        try:
            subscription = self.subscription(ctx, text_of(req, "SubscriptionId") or "")
        except EwsError as err:
            self.error(msgs, "Unsubscribe", err)
            return resp
        del self.subscriptions[subscription.id]
        self.ok(msgs, "Unsubscribe")
        return resp

    # --- events -------------------------------------------------------------------------------
    def events_after(
        self, subscription: Subscription, after: int
    ) -> list[tuple[int, str, str, str, str | None]]:
        """(seq, event type, item id, folder, old folder) of the subscription's events after
        `after`, oldest first."""
        mailbox = subscription.mailbox.lower()
        logs = {
            name: _after(self.store.log.get(f"{mailbox}:{name}", []), after) for name in FOLDERS
        }
        created_in = {(seq, item): name for name, log in logs.items() for seq, item, kind in log
                      if kind == "Create"}  # fmt: skip
        deleted_from = {(seq, item): name for name, log in logs.items() for seq, item, kind in log
                        if kind == "Delete"}  # fmt: skip
        events: dict[tuple[int, str], tuple[int, str, str, str, str | None]] = {}
        for name in subscription.folders:
            for seq, item, kind in logs[name]:
                moved_to = created_in.get((seq + 1, item)) if kind == "Delete" else None
                moved_from = deleted_from.get((seq - 1, item)) if kind == "Create" else None
                if moved_to in _MOVED_TO:
                    events[(seq, item)] = (seq + 1, "MovedEvent", item, moved_to, name)
                elif moved_from is not None and name in _MOVED_TO:
                    events[(seq - 1, item)] = (seq, "MovedEvent", item, name, moved_from)
                else:
                    events[(seq, item)] = (seq, _KINDS[kind], item, name, None)
        wanted = subscription.event_types
        return sorted(e for e in events.values() if e[1] in wanted)

    def notification(
        self,
        note: etree._Element,
        subscription: Subscription,
        after: int,
        events: list[tuple[int, str, str, str, str | None]],
        more: bool,
    ) -> None:
        """Fill a t:Notification element with `events` (a StatusEvent when there are none)."""
        sub(note, t("SubscriptionId"), subscription.id)
        sub(note, t("PreviousWatermark"), watermark_text(after))
        sub(note, t("MoreEvents"), "true" if more else "false")
        if not events:
            status = sub(note, t("StatusEvent"))
            sub(status, t("Watermark"), watermark_text(max(after, self.store.seq)))
            return
        mailbox = subscription.mailbox
        for seq, kind, item_id, folder, old_folder in events:
            event = sub(note, t(kind))
            sub(event, t("Watermark"), watermark_text(seq))
            stamp = self.store.stamps.get(seq) or dt.datetime.now(dt.UTC)
            sub(event, t("TimeStamp"), format_dt(stamp))
            item = self.store.items.get(item_id)
            key = {"ChangeKey": item.change_key} if item is not None else {}
            sub(event, t("ItemId"), Id=item_id, **key)
            sub(event, t("ParentFolderId"), Id=folder_id(mailbox, folder), ChangeKey="AQAAAA==")
            if old_folder is not None:
                sub(event, t("OldItemId"), Id=item_id)
                sub(
                    event,
                    t("OldParentFolderId"),
                    Id=folder_id(mailbox, old_folder),
                    ChangeKey="AQAAAA==",
                )
