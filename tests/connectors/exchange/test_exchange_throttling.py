"""Throttling, transient failures and the per-account back-off, against the EWS emulator."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from connectors.exchange import ExchangeAction, is_transient
from connectors.exchange.errors import ServiceUnavailable
from connectors.exchange.retry import RetryPolicy
from tests.connectors.exchange.conftest import MASTER, master_requests, utc

EDITOR = "editor@contoso.test"
REVIEWER = "reviewer@contoso.test"


def test_server_back_off_holds_back_every_thread_of_the_account(world, make_connector):
    first, second = make_connector(), make_connector()  # two connectors, one master account
    world.control.throttling(throttle={MASTER: 1500})
    outcome: dict[str, float] = {}

    def check(name, conn, mailbox):
        started = time.monotonic()
        conn.changed_since(mailbox, None)
        outcome[name] = time.monotonic() - started

    a = threading.Thread(target=check, args=("a", first, EDITOR))
    a.start()
    time.sleep(0.3)  # A has been told to back off by now
    b = threading.Thread(target=check, args=("b", second, REVIEWER))
    b.start()
    time.sleep(0.6)
    during_back_off = master_requests(world)
    a.join(10)
    b.join(10)

    assert during_back_off == 1  # only A's refused request: B waited at the account's gate
    assert outcome["a"] >= 1.4
    assert outcome["b"] >= 1.0  # started 0.3 s in, held until the back-off passed
    assert master_requests(world) == 3  # one refused, then one each


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


def test_a_throttled_batch_of_creates_is_resent_without_duplicates(world, connector):
    world.control.faults(
        schedule=[{"operation": "CreateItem", "count": 1, "response_code": "ErrorServerBusy"}]
    )
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


def test_an_item_refused_as_busy_is_resent_alone_until_the_budget_is_spent(world, make_connector):
    world.control.faults(
        refuse=[
            {
                "operation": "CreateItem",
                "subject_matches": "^S1$",
                "response_code": "ErrorServerBusy",
            }
        ]
    )
    conn = make_connector(
        policy=RetryPolicy(max_attempts=3, max_elapsed=1.0, default_busy_backoff=0.2)
    )
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
    results = conn.apply(EDITOR, actions)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error == "ServerBusy"
    assert sorted(i["subject"] for i in world.control.items(EDITOR)) == ["S0", "S2"]
    requests = world.control.counters()["by_operation"]["CreateItem"]
    assert 2 <= requests <= 7  # the batch once, then the busy item alone every 0.2 s


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
