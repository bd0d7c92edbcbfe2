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


def busy_answers(log: list[dict]) -> list[dict]:
    """Requests of a request log answered with ErrorServerBusy (whole or for some items)."""
    return [r for r in log if "ErrorServerBusy" in (r["response_code"], *r["item_errors"])]


def requests_during_back_off(log: list[dict]) -> list[dict]:
    """Requests that arrived after an ErrorServerBusy answer but before its back-off ended."""
    return [
        r
        for busy in busy_answers(log)
        for r in log
        if busy["t"] < r["t"] < busy["t"] + busy["back_off_ms"] / 1000
    ]


def test_server_back_off_holds_back_every_thread_of_the_account(world, make_connector):
    first, second = make_connector(), make_connector()  # two connectors, one master account
    world.control.throttling(throttle={MASTER: 1000})
    finished: dict[str, float] = {}

    def check(name, conn, mailbox):
        conn.changed_since(mailbox, None)
        finished[name] = time.monotonic()

    a = threading.Thread(target=check, args=("a", first, EDITOR))
    a.start()
    time.sleep(0.3)  # A has been told to back off by now
    b_started = time.monotonic()
    b = threading.Thread(target=check, args=("b", second, REVIEWER))
    b.start()
    a.join(10)
    b.join(10)

    log = world.control.requests(account=MASTER)
    (busy,) = busy_answers(log)  # only A's first request: B waited at the account's gate
    assert busy["mailbox"] == EDITOR and busy["response_code"] == "ErrorServerBusy"
    back_off_end = busy["t"] + busy["back_off_ms"] / 1000
    assert busy["t"] < b_started < back_off_end  # B started while the account was held back
    assert requests_during_back_off(log) == []
    later = [r for r in log if r is not busy]
    assert sorted(r["mailbox"] for r in later) == [EDITOR, REVIEWER]  # then one each
    assert all(r["response_code"] == "NoError" and r["t"] >= back_off_end for r in later)
    assert min(finished.values()) >= back_off_end  # the emulator's clock is this process's


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


def test_a_busy_item_of_a_batch_of_250_is_resent_alone_after_the_back_off(world, connector):
    world.control.faults(
        refuse=[
            {
                "operation": "CreateItem",
                "subject_matches": "^Busy$",
                "response_code": "ErrorServerBusy",
                "back_off_ms": 400,
                "count": 1,
            }
        ]
    )
    results = connector.apply(EDITOR, creates(250, busy=120))

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
    busy, resend = log[1], log[2]
    # ... after the back-off the server asked for (not the connector's 5 s default)
    assert busy["t"] + 0.4 <= resend["t"] < busy["t"] + 2.5
    assert requests_during_back_off(log) == []


def test_an_item_refused_as_busy_is_resent_alone_until_the_budget_is_spent(world, make_connector):
    world.control.faults(
        refuse=[
            {
                "operation": "CreateItem",
                "subject_matches": "^Busy$",
                "response_code": "ErrorServerBusy",
                "back_off_ms": 200,
            }
        ]
    )
    conn = make_connector(policy=RetryPolicy(max_attempts=3, max_elapsed=1.0))
    results = conn.apply(EDITOR, creates(3, busy=1))
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error == "ServerBusy"
    assert sorted(i["subject"] for i in world.control.items(EDITOR)) == ["S0", "S2"]
    log = world.control.requests(account=MASTER, operation="CreateItem")
    # The batch once, then the busy item alone every 0.2 s while 1 s of budget lasts.
    assert [r["items"] for r in log][:2] == [3, 1] and 3 <= len(log) <= 6
    assert all(r["items"] == 1 for r in log[1:])
    assert all(r["item_errors"] == {"ErrorServerBusy": 1} for r in log)
    assert requests_during_back_off(log) == []


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
