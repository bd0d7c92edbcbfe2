"""GetStreamingEvents: one long HTTP answer carrying the events of streaming subscriptions.

As Exchange (Microsoft's "Streaming notifications" and "Handling notification-related errors
in EWS in Exchange"): the answer is a chunked stream of SOAP envelopes, each a
`GetStreamingEventsResponse` with the notifications that came since the last one and
`ConnectionStatus` `OK`; the last one, once `ConnectionTimeout` minutes have passed, says
`Closed`. Events the server lost end the stream with `ErrorMissedNotificationEvents`,
naming the subscriptions in `ErrorSubscriptionIds`. One connection carries up to 200
subscription ids, of any of the caller's mailboxes; a budget (the caller's, or with
impersonation a copy of the impersonated mailbox's) keeps at most `HangingConnectionLimit`
connections open at once (3, as Exchange Server's default; Exchange Online allows 10), and
one more is refused with `ErrorExceededConnectionCount`.

The stream holds the store's lock only to read events, never while it waits, and does not
count against the account's concurrency limit (Exchange budgets hanging connections apart).
For tests, the throttling setting `streaming_minute_s` shortens a minute of
`ConnectionTimeout` (60 s unless set).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from lxml import etree

from .errors import EwsError
from .ops_notify import MISSED, Subscription
from .xmlutil import children, envelope, local, m, serialize, sub, t, text_of

if TYPE_CHECKING:
    from .ops import Ctx, Operations

#: Subscription ids one connection may carry (Exchange's limit).
IDS_PER_CONNECTION = 200
#: How often an open stream looks for new events, and how often it says it is still there.
POLL_S = 0.05
KEEPALIVE_S = 30.0


#: The one Mailbox server the emulator stands for: the value of every affinity cookie.
MAILBOX_SERVER = "mbx1.emulator.local~1"


def streaming_budget(ctx: Ctx) -> str:
    """Whose hanging-connection budget a connection is charged to (Microsoft's "Maintain
    affinity", throttling section): the caller's own without impersonation; with it, a copy
    of the impersonated mailbox's, shared by every account impersonating that mailbox. So a
    service account gains connections by impersonating a different mailbox of each group."""
    if ctx.impersonated:
        return f"impersonating:{ctx.impersonated.lower()}"
    return ctx.caller.lower()


class OpenStreams:
    """Streaming connections open per account, against the hanging-connection limit."""

    def __init__(self) -> None:
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def open(self, account: str, limit: int) -> bool:
        with self._lock:
            if self._open[account] >= limit:
                return False
            self._open[account] += 1
            return True

    def close(self, account: str) -> None:
        with self._lock:
            self._open[account] -= 1


def streaming_request(
    ops: Operations, ctx: Ctx, req: etree._Element
) -> tuple[list[Subscription], int]:
    """The subscriptions and ConnectionTimeout (minutes) a GetStreamingEvents asks for, or the
    EwsError Exchange answers it with."""
    container = next((c for c in children(req) if local(c.tag) == "SubscriptionIds"), None)
    ids = [text_of(e) or "" for e in children(container)] if container is not None else []
    if len(ids) > IDS_PER_CONNECTION:
        raise EwsError(
            "ErrorInvalidRequest",
            f"One streaming connection carries at most {IDS_PER_CONNECTION} subscriptions.",
        )
    subscriptions = [ops.subscription(ctx, i) for i in ids]
    for subscription in subscriptions:
        if subscription.kind != "streaming":
            raise EwsError(
                "ErrorInvalidSubscription",
                "GetStreamingEvents reads streaming subscriptions only.",
            )
    # Exchange groups subscriptions of several mailboxes on one connection when they live on
    # one Mailbox server (the client keeps that affinity with X-AnchorMailbox,
    # X-PreferServerAffinity and the X-BackEndOverrideCookie). The emulator is one Mailbox
    # server, so any of the caller's subscriptions group.
    return subscriptions, int(text_of(req, "ConnectionTimeout") or "1")


def stream(
    ops: Operations,
    lock: threading.RLock,
    subscriptions: list[Subscription],
    seconds: float,
    send: Callable[[etree._Element], None],
    hung_up: Callable[[], bool],
) -> None:
    """Send the subscriptions' events as they come for `seconds`, then the closing message.

    Ends early, without a word, when the client hangs up; with the closing message when its
    subscriptions are gone (unsubscribed, or the emulator reset)."""
    deadline = time.monotonic() + seconds
    last_sent = time.monotonic()
    while True:
        now = time.monotonic()
        if hung_up():
            return
        with lock:
            missed = [s for s in subscriptions if s.missed]
            if missed:
                for subscription in missed:
                    ops.subscriptions.pop(subscription.id, None)
                send(_missed(ops, missed))
                return
            if not any(ops.subscriptions.get(s.id) is s for s in subscriptions):
                deadline = now
            pending = [(s, ops.events_after(s, s.watermark)) for s in subscriptions]
            pending = [(s, events) for s, events in pending if events]
            if pending:
                resp, message = _message(ops, "OK")
                notifications = etree.Element(m("Notifications"))
                for subscription, events in pending:
                    note = sub(notifications, t("Notification"))  # t:, unlike GetEvents
                    ops.notification(note, subscription, subscription.watermark, events, False)
                    subscription.watermark = events[-1][0]
                message.insert(len(message) - 1, notifications)
        if pending or now - last_sent >= KEEPALIVE_S:
            send(resp if pending else _message(ops, "OK")[0])
            last_sent = now
        if now >= deadline:
            send(_message(ops, "Closed")[0])
            return
        time.sleep(POLL_S)


def _missed(ops: Operations, missed: list[Subscription]) -> etree._Element:
    """The error message that ends a stream whose subscriptions lost events, naming them."""
    resp, msgs = ops.response("GetStreamingEvents")
    message = ops.error(msgs, "GetStreamingEvents", EwsError(MISSED, "Events were lost."))
    ids = sub(message, m("ErrorSubscriptionIds"))
    for subscription in missed:
        sub(ids, t("SubscriptionId"), subscription.id)
    sub(message, m("ConnectionStatus"), "Closed")
    return resp


def _message(ops: Operations, status: str) -> tuple[etree._Element, etree._Element]:
    resp, msgs = ops.response("GetStreamingEvents")
    message = ops.ok(msgs, "GetStreamingEvents")
    sub(message, m("ConnectionStatus"), status)
    return resp, message


def chunk(resp: etree._Element) -> bytes:
    """One envelope as a chunk of an HTTP/1.1 chunked body."""
    data = serialize(envelope(resp)[0])
    return f"{len(data):X}\r\n".encode() + data + b"\r\n"
