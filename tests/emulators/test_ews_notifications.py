"""Pull notifications as exchangelib uses them against Exchange: Subscribe, GetEvents with
watermarks, Unsubscribe, and the errors Microsoft documents ("Handling notification-related
errors in EWS in Exchange")."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import threading
import time
from typing import Any

import pytest
import requests
from exchangelib.errors import (
    ErrorExpiredSubscription,
    ErrorInvalidPushSubscriptionUrl,
    ErrorInvalidSubscriptionRequest,
    ErrorMissedNotificationEvents,
    ErrorSubscriptionNotFound,
)
from exchangelib.folders import FolderCollection
from lxml import etree

from .conftest import MASTER, MASTER_PW, TRAINER, TRAINER_PW, account, event

M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"


def _kinds(notification: Any) -> list[str]:
    return [type(e).__name__ for e in notification.events]


def test_events_follow_the_watermark_across_calls(org) -> None:  # type: ignore[no-untyped-def]
    acc = account(org)
    subscription_id, watermark = acc.calendar.subscribe_to_pull()
    (quiet,) = acc.calendar.get_events(subscription_id, watermark)
    assert _kinds(quiet) == ["StatusEvent"]  # nothing yet: the current watermark

    item = event(acc, "Course").save()
    item.subject = "Course (moved)"
    item.save(update_fields=["subject"])
    (first,) = acc.calendar.get_events(subscription_id, watermark)
    assert _kinds(first) == ["CreatedEvent", "ModifiedEvent"]
    assert {e.item_id.id for e in first.events} == {item.id}
    assert first.events[0].parent_folder_id.id == acc.calendar.id
    assert first.previous_watermark == watermark and first.more_events is False

    acc.bulk_delete([item], delete_type="MoveToDeletedItems")  # a move, as Exchange reports it
    (second,) = acc.calendar.get_events(subscription_id, first.events[-1].watermark)
    assert _kinds(second) == ["MovedEvent"]
    (moved,) = second.events
    assert moved.old_parent_folder_id.id == acc.calendar.id
    assert moved.parent_folder_id.id != acc.calendar.id

    # Delivered events are not delivered again, whatever watermark the client sends.
    (again,) = acc.calendar.get_events(subscription_id, watermark)
    assert _kinds(again) == ["StatusEvent"]
    assert acc.calendar.unsubscribe(subscription_id) is True
    with pytest.raises(ErrorSubscriptionNotFound):
        list(acc.calendar.get_events(subscription_id, watermark))


def test_a_hard_deletion_is_a_deleted_event_and_types_not_asked_for_are_left_out(org) -> None:  # type: ignore[no-untyped-def]
    acc = account(org)
    subscription_id, watermark = acc.calendar.subscribe_to_pull(event_types=["DeletedEvent"])
    item = event(acc).save()
    item.delete()  # exchangelib's delete() is a HardDelete
    (notification,) = acc.calendar.get_events(subscription_id, watermark)
    assert _kinds(notification) == ["DeletedEvent"]


def test_many_events_come_fifty_a_call(org) -> None:  # type: ignore[no-untyped-def]
    acc = account(org)
    subscription_id, watermark = acc.calendar.subscribe_to_pull(event_types=["CreatedEvent"])
    acc.bulk_create(acc.calendar, [event(acc, f"S{n}") for n in range(60)])
    # exchangelib asks again, with the same watermark, while MoreEvents is true.
    page, rest = acc.calendar.get_events(subscription_id, watermark)
    assert len(page.events) == 50 and page.more_events is True
    assert len(rest.events) == 10 and rest.more_events is False


def test_a_subscription_nobody_reads_expires(org) -> None:  # type: ignore[no-untyped-def]
    acc = account(org)
    subscription_id, watermark = acc.calendar.subscribe_to_pull(timeout=1)
    org.control.expire_subscriptions()  # as if its minute had passed without a GetEvents
    with pytest.raises(ErrorExpiredSubscription):
        list(acc.calendar.get_events(subscription_id, watermark))
    assert org.control.subscriptions() == []  # and it is gone


def test_one_subscription_watches_one_mailbox(org) -> None:  # type: ignore[no-untyped-def]
    trainer = account(org)
    own = account(org, mailbox=MASTER, user=MASTER, password=MASTER_PW)
    both = FolderCollection(account=own, folders=[own.calendar, trainer.calendar])
    with pytest.raises(ErrorInvalidSubscriptionRequest):
        both.subscribe_to_pull(event_types=["CreatedEvent"], watermark=None, timeout=5)
    assert org.control.subscriptions() == []


def test_events_carry_when_they_happened(org) -> None:  # type: ignore[no-untyped-def]
    acc = account(org)
    subscription_id, watermark = acc.calendar.subscribe_to_pull(event_types=["CreatedEvent"])
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    event(acc).save()
    (notification,) = acc.calendar.get_events(subscription_id, watermark)
    assert before <= notification.events[0].timestamp <= dt.datetime.now(dt.UTC)


def test_a_subscription_made_from_a_watermark_resumes_there(org) -> None:  # type: ignore[no-untyped-def]
    # After a listener restart: a new subscription from the last watermark it handled sees
    # what happened since. (exchangelib puts that watermark in the messages namespace, which
    # the schema refuses, so the request is written here as the schema has it.)
    acc = account(org)
    subscription_id, watermark = acc.calendar.subscribe_to_pull(event_types=["CreatedEvent"])
    acc.calendar.unsubscribe(subscription_id)
    event(acc, "While nobody listened").save()
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:m="{M}" xmlns:t="{T}">
 <s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>
 <s:Body><m:Subscribe><m:PullSubscriptionRequest>
  <t:FolderIds><t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>{TRAINER}
  </t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></t:FolderIds>
  <t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes>
  <t:Watermark>{watermark}</t:Watermark><t:Timeout>5</t:Timeout>
 </m:PullSubscriptionRequest></m:Subscribe></s:Body></s:Envelope>"""
    answer = requests.post(org.url, data=body.encode(), auth=(MASTER, MASTER_PW), timeout=10)
    assert answer.status_code == 200, answer.text
    resumed = etree.fromstring(answer.content).findtext(f".//{{{M}}}SubscriptionId")
    (notification,) = acc.calendar.get_events(resumed, watermark)
    assert _kinds(notification) == ["CreatedEvent"]


# --- streaming ----------------------------------------------------------------------------------


@pytest.fixture
def fast_minutes(org):  # type: ignore[no-untyped-def]
    """A minute of ConnectionTimeout lasts one second here."""
    org.control.throttling(streaming_minute_s=1)
    return org


def test_a_stream_carries_events_as_they_happen_then_closes(fast_minutes) -> None:  # type: ignore[no-untyped-def]
    acc = account(fast_minutes)
    subscription_id = acc.calendar.subscribe_to_streaming()
    event(acc, "Before").save()  # waiting since before the connection opened
    # The trainer, in Outlook (their own sign-in), while the master's stream is open.
    own = account(fast_minutes, user=TRAINER, password=TRAINER_PW)
    later = threading.Timer(0.3, lambda: event(own, "During").save())
    later.start()
    started = time.monotonic()
    notifications = list(acc.calendar.get_streaming_events(subscription_id, connection_timeout=1))
    later.join()
    assert 0.9 < time.monotonic() - started < 5  # open for its timeout, then Closed
    created = [e for n in notifications for e in n.events if type(e).__name__ == "CreatedEvent"]
    assert len(created) == 2
    assert all(n.subscription_id == subscription_id for n in notifications)


def test_a_client_may_stop_reading_after_enough_notifications(fast_minutes) -> None:  # type: ignore[no-untyped-def]
    fast_minutes.control.throttling(streaming_minute_s=60)
    acc = account(fast_minutes)
    subscription_id = acc.calendar.subscribe_to_streaming()
    event(acc).save()
    started = time.monotonic()
    (notification,) = acc.calendar.get_streaming_events(
        subscription_id, connection_timeout=1, max_notifications_returned=1
    )
    assert time.monotonic() - started < 5  # not the minute the connection could stay open
    assert [type(e).__name__ for e in notification.events] == ["CreatedEvent"]


def test_one_connection_carries_several_subscriptions(fast_minutes) -> None:  # type: ignore[no-untyped-def]
    acc = account(fast_minutes)
    created = acc.calendar.subscribe_to_streaming(event_types=["CreatedEvent"])
    modified = acc.calendar.subscribe_to_streaming(event_types=["ModifiedEvent"])
    item = event(acc).save()
    item.subject = "Changed"
    item.save(update_fields=["subject"])
    notifications = list(
        acc.calendar.get_streaming_events([created, modified], connection_timeout=1)
    )
    kinds = {(n.subscription_id, type(e).__name__) for n in notifications for e in n.events}
    assert kinds == {(created, "CreatedEvent"), (modified, "ModifiedEvent")}


def test_more_open_streams_than_exchange_allows_are_refused(fast_minutes) -> None:  # type: ignore[no-untyped-def]
    # Three hanging connections per account, as Exchange Server allows by default. (exchangelib
    # answers ErrorExceededConnectionCount by shrinking its pool and waiting, so the fourth
    # request is sent here as it is on the wire.)
    fast_minutes.control.throttling(streaming_minute_s=2)
    acc = account(fast_minutes, max_connections=10)
    ids = [acc.calendar.subscribe_to_streaming() for _ in range(4)]
    streams = [
        threading.Thread(target=lambda i=i: list(acc.calendar.get_streaming_events(i, 1)))
        for i in ids[:3]
    ]
    for thread in streams:
        thread.start()
    time.sleep(0.5)  # all three connected
    answer = requests.post(
        fast_minutes.url, data=_streaming_request(ids[3]), auth=(MASTER, MASTER_PW), timeout=10
    )
    codes = etree.fromstring(answer.content).findall(f".//{{{M}}}ResponseCode")
    assert [c.text for c in codes] == ["ErrorExceededConnectionCount"]
    for thread in streams:
        thread.join()


SECOND = "trainer2@contoso.test"


def test_one_connection_groups_the_subscriptions_of_several_mailboxes(fast_minutes) -> None:  # type: ignore[no-untyped-def]
    # Microsoft's "Maintain affinity between a group of subscriptions and the Mailbox server":
    # the subscriptions made with X-PreferServerAffinity get the group's X-BackEndOverrideCookie,
    # and one GetStreamingEvents carries the whole group's subscription ids.
    fast_minutes.control.add_account(SECOND, "pw2")
    fast_minutes.control.grant(owner=SECOND, grantee=MASTER, kind="delegate")
    first, second = account(fast_minutes), account(fast_minutes, mailbox=SECOND)
    ids = [first.calendar.subscribe_to_streaming(), second.calendar.subscribe_to_streaming()]
    assert first.affinity_cookie and first.affinity_cookie == second.affinity_cookie
    event(first, "Ann's course").save()
    event(second, "Bob's course").save()
    notifications = list(first.calendar.get_streaming_events(ids, connection_timeout=1))
    by_subscription = {n.subscription_id: _kinds(n) for n in notifications if n.events}
    assert by_subscription == {ids[0]: ["CreatedEvent"], ids[1]: ["CreatedEvent"]}


def test_impersonation_charges_streams_to_a_copy_of_the_mailbox_budget(fast_minutes) -> None:  # type: ignore[no-untyped-def]
    # The same page, on throttling: without impersonation a connection is charged to the
    # service account; impersonating a mailbox charges it to a copy of that mailbox's budget,
    # so a service account opens more streams by impersonating one mailbox of each group.
    fast_minutes.control.throttling(streaming_minute_s=2)
    fast_minutes.control.add_account(SECOND, "pw2")
    for owner in (TRAINER, SECOND):
        fast_minutes.control.grant(owner=owner, grantee=MASTER, kind="impersonation")
    ann = account(fast_minutes, access_type="impersonation", max_connections=10)
    bob = account(fast_minutes, mailbox=SECOND, access_type="impersonation", max_connections=10)
    own = account(fast_minutes, mailbox=MASTER, max_connections=10)
    ids = {name: a.calendar.subscribe_to_streaming() for name, a in
           [("ann", ann), ("bob", bob), ("own", own)]}  # fmt: skip
    streams = [
        threading.Thread(target=lambda a=a, i=i: list(a.calendar.get_streaming_events(i, 1)))
        for a, i in [(ann, ids["ann"])] * 3 + [(bob, ids["bob"])] * 3 + [(own, ids["own"])] * 3
    ]
    for thread in streams:
        thread.start()
    time.sleep(0.7)  # nine streams open: three on each budget

    def fourth(subscription_id: str, impersonate: str | None) -> list[str | None]:
        answer = requests.post(
            fast_minutes.url,
            data=_streaming_request(subscription_id, impersonate),
            auth=(MASTER, MASTER_PW),
            timeout=10,
        )
        return [c.text for c in etree.fromstring(answer.content).findall(f".//{{{M}}}ResponseCode")]

    try:
        assert fourth(ids["ann"], TRAINER) == ["ErrorExceededConnectionCount"]
        assert fourth(ids["own"], None) == ["ErrorExceededConnectionCount"]
    finally:
        for thread in streams:
            thread.join()


def _streaming_request(subscription_id: str, impersonate: str | None = None) -> bytes:
    impersonation = (
        f"<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{impersonate}"
        "</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
        if impersonate
        else ""
    )

    return f"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="{M}" xmlns:t="{T}">
 <s:Header><t:RequestServerVersion Version="Exchange2016"/>{impersonation}</s:Header>
 <s:Body><m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>{subscription_id}
 </t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout>
 </m:GetStreamingEvents></s:Body></s:Envelope>""".encode()


def test_lost_events_end_a_pull_subscription_saying_so(org) -> None:  # type: ignore[no-untyped-def]
    acc = account(org)
    subscription_id, watermark = acc.calendar.subscribe_to_pull()
    event(acc).save()
    org.control.lose_events()
    with pytest.raises(ErrorMissedNotificationEvents):
        list(acc.calendar.get_events(subscription_id, watermark))
    assert org.control.subscriptions() == []  # subscribe again, and resynchronise


def test_lost_events_end_a_stream_naming_its_subscriptions(fast_minutes) -> None:  # type: ignore[no-untyped-def]
    fast_minutes.control.throttling(streaming_minute_s=30)
    acc = account(fast_minutes)
    subscription_id = acc.calendar.subscribe_to_streaming()
    threading.Timer(0.3, fast_minutes.control.lose_events).start()
    started = time.monotonic()
    with pytest.raises(ErrorMissedNotificationEvents) as missed:
        list(acc.calendar.get_streaming_events(subscription_id, connection_timeout=1))
    assert time.monotonic() - started < 5  # at once, not at the end of the connection
    assert missed.value.value == "Events were lost."

    # On the wire, the closing message names the subscriptions (exchangelib looks for them in
    # the messages namespace; the schema puts them in the types namespace).
    again = acc.calendar.subscribe_to_streaming()
    threading.Timer(0.3, fast_minutes.control.lose_events).start()
    answer = requests.post(
        fast_minutes.url, data=_streaming_request(again), auth=(MASTER, MASTER_PW), timeout=10
    )
    last = b"<?xml" + answer.content.split(b"<?xml")[-1]  # the stream's last envelope
    named = etree.fromstring(last)
    assert named.findtext(f".//{{{M}}}ResponseCode") == "ErrorMissedNotificationEvents"
    assert named.findtext(f".//{{{M}}}ErrorSubscriptionIds/{{{T}}}SubscriptionId") == again


# --- push ---------------------------------------------------------------------------------------


class _Subscriber(http.server.BaseHTTPRequestHandler):
    """A loopback endpoint as a push subscriber runs one: keeps what it gets, answers OK, then
    Unsubscribe once it has had `enough`."""

    received: list[etree._Element]
    enough = 2

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(etree.fromstring(body))
        status = "Unsubscribe" if len(self.received) >= self.enough else "OK"
        answer = (
            f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            f'<m:SendNotificationResult xmlns:m="{M}"><m:SubscriptionStatus>{status}'
            f"</m:SubscriptionStatus></m:SendNotificationResult></s:Body></s:Envelope>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


def test_push_notifications_reach_a_loopback_subscriber_until_it_unsubscribes(org) -> None:  # type: ignore[no-untyped-def]
    received: list[etree._Element] = []
    handler = type("Subscriber", (_Subscriber,), {"received": received})
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as subscriber:
        threading.Thread(target=subscriber.serve_forever, daemon=True).start()
        acc = account(org)
        url = f"http://127.0.0.1:{subscriber.server_address[1]}/notify"
        acc.calendar.subscribe_to_push(url, event_types=["CreatedEvent"])
        event(acc, "First").save()
        _wait_for(lambda: len(received) >= 1)
        event(acc, "Second").save()
        _wait_for(lambda: len(received) >= 2)
        _wait_for(lambda: org.control.subscriptions() == [])  # it answered Unsubscribe
        subscriber.shutdown()
    kinds = [e.tag.split("}")[1] for body in received for e in body.iter(f"{{{T}}}CreatedEvent")]
    assert kinds == ["CreatedEvent", "CreatedEvent"]


def test_a_subscriber_that_cannot_be_reached_loses_its_subscription(org) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as closed:  # a port nothing listens on once this is closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    acc = account(org)
    acc.calendar.subscribe_to_push(f"http://127.0.0.1:{port}/notify", event_types=["CreatedEvent"])
    event(acc).save()
    _wait_for(lambda: org.control.subscriptions() == [])  # after three failed deliveries


def test_push_goes_to_this_machine_only(org) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ErrorInvalidPushSubscriptionUrl):
        account(org).calendar.subscribe_to_push("https://listener.example.com/notify")
    assert org.control.subscriptions() == []


def _wait_for(condition: Any, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within 5 s"
        time.sleep(0.05)
