"""Throttling, transient failures and the per-account back-off, against the EWS emulator."""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from connectors.exchange import ExchangeAction, is_transient
from connectors.exchange.errors import ServiceUnavailable
from connectors.exchange.retry import RetryPolicy
from tests.connectors.conftest import VirtualTime, utc
from tests.connectors.exchange.conftest import MASTER, master_requests

EDITOR = "editor@contoso.test"
REVIEWER = "reviewer@contoso.test"


def test_server_back_off_holds_back_every_thread_of_the_account(world, make_connector):
    world.control.faults(
        schedule=[{"operation": "SyncFolderItems", "count": 1, "response_code": "ErrorServerBusy"}]
    )  # answered with a back-off of 1 s
    virtual = VirtualTime()
    held, release = threading.Event(), threading.Event()

    def a_sleeps(seconds: float) -> None:  # A waits out its back-off until released
        held.set()
        release.wait(10)
        virtual.sleep(seconds)

    # Two connectors, one master account.
    first = make_connector(policy=dataclasses.replace(virtual.policy(), sleep=a_sleeps))
    second = make_connector(policy=virtual.policy())
    a = threading.Thread(target=first.changed_since, args=(EDITOR, None))
    a.start()
    assert held.wait(10)  # A has been told to back off
    assert second.changed_since(REVIEWER, None).changed
    assert virtual.sleeps == [1.0]  # B waited at the account's gate for A's back-off
    release.set()
    a.join(10)

    log = world.control.requests(account=MASTER)
    # A's first request was the only one refused; then B went, while A was still held.
    assert [r["response_code"] for r in log] == ["ErrorServerBusy", "NoError", "NoError"]
    assert log[0]["back_off_ms"] == 1000
    assert [r["mailbox"] for r in log[1:]] == [REVIEWER, EDITOR]


def test_a_throttling_storm_is_survived(world, make_connector):
    world.control.throttling(max_concurrent=2, back_off_ms=200)
    world.control.faults(latency_ms=60)  # so that requests overlap
    conn = make_connector(max_connections=8)
    mailboxes = [EDITOR, REVIEWER] * 6

    with ThreadPoolExecutor(max_workers=8) as pool:
        checks = list(pool.map(lambda m: conn.changed_since(m, None), mailboxes))

    assert all(c.changed and c.cursor for c in checks)
    counters = world.control.counters()
    assert counters["by_account"][MASTER] > len(mailboxes)  # some were refused, then retried


def test_transient_server_errors_are_retried(world, connector):
    world.control.faults(
        schedule=[{"operation": "SyncFolderItems", "count": 2, "http_status": 503}]
    )
    check = connector.changed_since(EDITOR, None)
    assert check.changed and check.cursor
    assert master_requests(world) == 3


def test_transient_errors_give_up_within_the_budget_and_say_so(world, make_connector):
    world.control.faults(
        schedule=[{"operation": "SyncFolderItems", "count": 10, "http_status": 503}]
    )
    conn = make_connector(
        policy=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_elapsed=5)
    )
    with pytest.raises(ServiceUnavailable) as caught:
        conn.changed_since(EDITOR, None)
    assert is_transient(caught.value)
    assert "HTTP 503" in caught.value.message
    assert master_requests(world) == 3


def test_permanent_errors_are_not_retried(world, connector):
    world.control.faults(
        schedule=[{"operation": "GetFolder", "count": 1, "response_code": "ErrorAccessDenied"}]
    )
    result = connector.check_access(EDITOR, "both")
    assert not result.ok and result.problems[0].code == "no_access"
    assert master_requests(world) == 1


def test_a_throttled_batch_of_creates_is_resent_without_duplicates(world, make_connector):
    world.control.faults(
        schedule=[{"operation": "CreateItem", "count": 1, "response_code": "ErrorServerBusy"}]
    )
    virtual = VirtualTime()
    connector = make_connector(policy=virtual.policy())
    actions = [
        ExchangeAction(
            "create",
            f"s-{i}",
            subject=f"S{i}",
            start=utc(2026, 12, 1, 8 + i),
            end=utc(2026, 12, 1, 9 + i),
        )
        for i in range(3)
    ]
    results = connector.apply(EDITOR, actions)
    assert all(r.ok for r in results)
    assert len(world.control.items(EDITOR)) == 3  # nothing created twice
    assert virtual.sleeps == [1.0]  # the fault's back-off


def creates(count: int, busy: int | None = None) -> list[ExchangeAction]:
    """`count` create actions with distinct subjects; subject "Busy" for index `busy`."""
    return [
        ExchangeAction(
            "create",
            f"s-{i}",
            subject="Busy" if i == busy else f"S{i}",
            start=utc(2026, 12, 1 + i // 10, 8 + i % 10),
            end=utc(2026, 12, 1 + i // 10, 9 + i % 10),
        )
        for i in range(count)
    ]


def refuse_busy(back_off_ms: int, **rule: object) -> dict[str, object]:
    """A refusal of the create of the item "Busy" as ErrorServerBusy with that back-off."""
    return {
        "operation": "CreateItem",
        "subject_matches": "^Busy$",
        "response_code": "ErrorServerBusy",
        "back_off_ms": back_off_ms,
        **rule,
    }


def test_a_busy_item_of_a_batch_of_250_is_resent_alone_after_the_back_off(world, make_connector):
    world.control.faults(refuse=[refuse_busy(400, count=1)])
    virtual = VirtualTime()
    results = make_connector(policy=virtual.policy()).apply(EDITOR, creates(250, busy=120))

    assert all(r.ok and r.item_id for r in results)
    stored = world.control.items(EDITOR)
    assert len(stored) == 250  # the other items were created once
    assert len({i["subject"] for i in stored}) == 250
    assert sorted(r.item_id for r in results) == sorted(i["id"] for i in stored)
    log = world.control.requests(account=MASTER)
    assert [(r["items"], r["item_errors"]) for r in log] == [
        (100, {}),
        (100, {"ErrorServerBusy": 1}),
        (1, {}),  # the busy item alone ...
        (50, {}),
    ]
    # ... after the back-off the server asked for (not the connector's 5 s default), the only
    # wait of the whole apply
    assert virtual.sleeps == [pytest.approx(0.4)]


def test_an_item_refused_as_busy_is_resent_alone_until_the_budget_is_spent(world, make_connector):
    world.control.faults(refuse=[refuse_busy(200)])
    virtual = VirtualTime()
    conn = make_connector(policy=virtual.policy(RetryPolicy(max_attempts=3, max_elapsed=1.0)))
    results = conn.apply(EDITOR, creates(3, busy=1))
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error == "ServerBusy"
    assert sorted(i["subject"] for i in world.control.items(EDITOR)) == ["S0", "S2"]
    log = world.control.requests(account=MASTER, operation="CreateItem")
    # The batch once, then the busy item alone every 0.2 s while 1 s of budget lasts.
    assert [r["items"] for r in log][:2] == [3, 1] and 3 <= len(log) <= 6
    assert all(r["items"] == 1 for r in log[1:])
    assert all(r["item_errors"] == {"ErrorServerBusy": 1} for r in log)
    # Each resend waited the server's back-off first, and the waits stayed within the budget.
    assert virtual.sleeps == [pytest.approx(0.2)] * (len(log) - 1)
    assert virtual.now <= 1.0


def test_read_timeouts_are_per_service_and_transient(world, make_connector):
    from exchangelib.protocol import BaseProtocol

    world.control.faults(latency_ms=800)
    impatient = make_connector(
        read_timeout=0.3,
        policy=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, max_elapsed=5),
    )
    patient = make_connector(name="patient", read_timeout=5.0)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as caught:
        impatient.changed_since(EDITOR, None)
    assert time.monotonic() - started < 2.0
    assert is_transient(caught.value) and "timed out" in caught.value.message
    assert patient.changed_since(EDITOR, None).changed
    assert BaseProtocol.TIMEOUT == 120  # exchangelib's global default is left alone
