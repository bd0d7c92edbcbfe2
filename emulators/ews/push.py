"""Push notifications: the emulator calls the subscriber's URL with SendNotification.

As Exchange (Microsoft's "Push notifications"): a push subscription names a URL and a
`StatusFrequency` (minutes); the server POSTs each batch of events there as a
`SendNotification` SOAP message, and a `StatusEvent` when nothing happened for that long.
The subscriber answers `SendNotificationResult` with `SubscriptionStatus` `OK` to go on or
`Unsubscribe` to end it. Here the URL must be on this machine (loopback), and a subscriber that
cannot be reached three times in a row loses the subscription, as Exchange gives up on one.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING

from lxml import etree

from .errors import EwsError
from .xmlutil import BODY_NSMAP, envelope, m, serialize, sub

if TYPE_CHECKING:
    from .ops import Operations
    from .ops_notify import Subscription

LOOPBACK = ("127.0.0.1", "localhost", "::1")
POLL_S = 0.05
#: Failed deliveries in a row after which a subscription is dropped.
MAX_FAILURES = 3


def check_push_url(url: str) -> None:
    """Refuse a push URL that is not http(s) on this machine."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK:
        raise EwsError(
            "ErrorInvalidPushSubscriptionUrl",
            "This Exchange emulator pushes notifications to loopback http(s) URLs only.",
        )


class Pusher:
    """One thread per server delivering the events of its push subscriptions."""

    def __init__(
        self,
        ops: Operations,
        lock: threading.RLock,
        check: Callable[[etree._Element], object],
    ) -> None:
        self.ops, self.lock = ops, lock
        self.check = check  # called with each SendNotification before it goes (schema check)
        self.stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def ensure_running(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="ews-push")
                self._thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        while not self.stopped.wait(POLL_S):
            for subscription, message, last in self._due():
                self._deliver(subscription, message, last)

    def _due(self) -> list[tuple[Subscription, etree._Element, int]]:
        now = time.monotonic()
        due = []
        with self.lock:
            for s in [s for s in self.ops.subscriptions.values() if s.kind == "push"]:
                events = self.ops.events_after(s, s.watermark)
                if not events and now - s.touched < s.timeout_s:
                    continue
                body = etree.Element(m("SendNotification"), nsmap=BODY_NSMAP)
                msgs = sub(body, m("ResponseMessages"))
                note = sub(self.ops.ok(msgs, "SendNotification"), m("Notification"))
                self.ops.notification(note, s, s.watermark, events, False)
                due.append((s, body, events[-1][0] if events else s.watermark))
        return due

    def _deliver(self, subscription: Subscription, body: etree._Element, last: int) -> None:
        self.check(body)
        request = urllib.request.Request(
            subscription.url,
            data=serialize(envelope(body)[0]),
            headers={"Content-Type": "text/xml; charset=utf-8"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
                status = etree.fromstring(answer.read()).findtext(f".//{m('SubscriptionStatus')}")
        except (OSError, etree.XMLSyntaxError, urllib.error.URLError):
            status = None
        with self.lock:
            if self.ops.subscriptions.get(subscription.id) is not subscription:
                return
            if status is None:
                subscription.failures += 1
                if subscription.failures >= MAX_FAILURES:
                    del self.ops.subscriptions[subscription.id]
                return
            subscription.failures, subscription.watermark = 0, last
            subscription.touched = time.monotonic()
            if status == "Unsubscribe":
                del self.ops.subscriptions[subscription.id]
