"""The delta change gate, 429 storms, Retry-After for the whole mailbox, transient failures."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

from connectors.exchange import ExchangeAction, engine_writes_from
from connectors.exchange.graph import GraphConnector
from connectors.exchange.retry import RetryPolicy
from tests.connectors.conftest import FAST, VirtualTime, utc
from tests.connectors.graph.conftest import (
    APP_SECRET,
    TRAINER,
    TRAINER2,
    as_trainer,
    graph_requests,
    service,
    trainer_event,
)

WINDOW = (utc(2026, 11, 30), utc(2027, 1, 1))


def _create(key: str, hour: int) -> ExchangeAction:
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=3, hours=hour)
    return ExchangeAction(
        action="create",
        entry_key=key,
        subject=key,
        start=start,
        end=start + dt.timedelta(hours=1),
        content_hash="h",
    )


def test_untouched_mailbox_costs_one_request_and_own_writes_do_not_count(world, connector):
    me = as_trainer(world)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).strftime("%Y-%m-%dT09:00:00")
    trainer_event(me, world, "Dentist", soon, soon.replace("T09", "T10"))
    first = connector.changed_since(TRAINER, None)
    assert first.changed
    world.control.reset_counters()
    idle = connector.changed_since(TRAINER, first.cursor)
    assert not idle.changed
    assert graph_requests(world) == {"calendarView.delta": 1}
    actions = [_create("S-1", 1), _create("S-2", 2)]
    results = connector.apply(TRAINER, actions)
    after_own = connector.changed_since(TRAINER, idle.cursor, engine_writes_from(actions, results))
    assert not after_own.changed
    deleted = [ExchangeAction(action="delete", entry_key="S-1", item_id=results[0].item_id)]
    gone = connector.apply(TRAINER, deleted)
    after_delete = connector.changed_since(
        TRAINER, after_own.cursor, engine_writes_from(deleted, gone)
    )
    assert not after_delete.changed
    me.patch(f"{world.url}/me/events/{results[1].item_id}", json={"subject": "moved by trainer"})
    edited = connector.changed_since(
        TRAINER, after_delete.cursor, engine_writes_from(actions, results)
    )
    assert edited.changed
    assert not connector.changed_since(TRAINER, edited.cursor).changed


def test_expired_or_invalid_delta_token_falls_back_to_changed(world, connector):
    first = connector.changed_since(TRAINER, None)
    world.control.expire_delta(TRAINER)
    expired = connector.changed_since(TRAINER, first.cursor)
    assert expired.changed and expired.cursor != first.cursor
    world.control.reset_counters()
    assert not connector.changed_since(TRAINER, expired.cursor).changed
    assert graph_requests(world) == {"calendarView.delta": 1}
    assert connector.changed_since(TRAINER, "not a cursor").changed


def test_a_drifted_window_starts_a_new_round(world):
    now = [dt.datetime.now(dt.UTC)]
    conn = GraphConnector(service(world), APP_SECRET, retry_policy=FAST, clock=lambda: now[0])
    first = conn.changed_since(TRAINER, None)
    now[0] += dt.timedelta(hours=12)
    assert not conn.changed_since(TRAINER, first.cursor).changed
    now[0] += dt.timedelta(days=1)
    drifted = conn.changed_since(TRAINER, first.cursor)
    assert drifted.changed and drifted.cursor != first.cursor
    conn.close()


def test_a_429_storm_completes_and_retry_after_is_honoured(world, make_connector):
    trainer_event(as_trainer(world), world, "x", "2026-12-01T09:00:00", "2026-12-01T10:00:00")
    world.control.throttling(throttle_next={TRAINER: 3}, retry_after=1)
    virtual = VirtualTime()
    rows = make_connector(policy=virtual.policy()).read_window(TRAINER, *WINDOW)
    assert [r.subject for r in rows] == ["x"]
    assert virtual.sleeps == [1.0, 1.0, 1.0]  # three Retry-After: 1 waits
    assert world.control.counters()["throttled"][TRAINER] == 3


def test_retry_after_holds_every_request_to_that_mailbox(world, make_connector):
    world.control.throttling(throttle_next={TRAINER: 1}, retry_after=2)
    virtual = VirtualTime()
    held, release = threading.Event(), threading.Event()

    def first_sleeps(seconds: float) -> None:  # the first connector waits until released
        held.set()
        release.wait(10)
        virtual.sleep(seconds)

    first = make_connector(policy=dataclasses.replace(virtual.policy(), sleep=first_sleeps))
    second = make_connector(policy=virtual.policy())
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(len(first.read_window(TRAINER, *WINDOW))))
    thread.start()
    assert held.wait(10)  # the first connector has been answered 429 and holds the gate
    second.read_window(TRAINER2, *WINDOW)
    assert virtual.sleeps == []  # another mailbox is not held back
    second.read_window(TRAINER, *WINDOW)
    assert virtual.sleeps == [2.0]  # the second connector waited out the first's Retry-After
    release.set()
    thread.join(timeout=10)
    assert done == [0]
    assert world.control.counters()["throttled"] == {TRAINER: 1}


def test_throttled_items_in_a_batch_are_resent_after_retry_after(world, make_connector):
    world.control.throttling(throttle_next={TRAINER: 1}, retry_after=1)
    virtual = VirtualTime()
    conn = make_connector(policy=virtual.policy())
    results = conn.apply(TRAINER, [_create(f"S-{n}", n) for n in range(5)])
    assert all(r.ok for r in results)
    assert len(world.control.items(TRAINER)) == 5
    assert virtual.sleeps == [1.0]


def test_transient_batch_failures_are_retried_then_surface_as_transient(world, make_connector):
    world.control.faults(schedule=[{"method": "POST", "path": "$batch", "status": 503, "count": 1}])
    conn = make_connector()
    assert all(r.ok for r in conn.apply(TRAINER, [_create("S-1", 1)]))
    world.control.faults(
        schedule=[{"method": "POST", "path": "$batch", "status": 500, "count": 10}]
    )
    quick = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, max_elapsed=5.0)
    updates = [
        ExchangeAction(
            action="delete", entry_key="S-1", item_id=world.control.items(TRAINER)[0]["id"]
        )
    ]
    (failed,) = make_connector(policy=quick).apply(TRAINER, updates)
    assert (failed.ok, failed.error) == (False, "ServiceUnavailable")


def test_concurrent_trainers_stay_within_four_requests_per_mailbox(world, make_connector):
    world.control.faults(latency_ms=60)
    conns = [make_connector(max_connections=16), make_connector(max_connections=16)]
    threads = [
        threading.Thread(target=conns[n % 2].read_window, args=(TRAINER, *WINDOW)) for n in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    counters = world.control.counters()
    assert counters["by_operation"]["calendarView"] == 8
    assert counters["concurrency_refusals"] == 0 and counters["max_inflight"] == 4


def test_the_change_gate_tracks_the_window_it_is_given(world, connector):
    """A provider syncing 500 days ahead sees edits 400 days out (the gate is not fixed at
    the default 7/365 days)."""
    me = as_trainer(world)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    far = (now + dt.timedelta(days=400)).strftime("%Y-%m-%dT09:00:00")
    window = (now - dt.timedelta(days=7), now + dt.timedelta(days=500))
    first = connector.changed_since(TRAINER, None, window=window)
    idle = connector.changed_since(TRAINER, first.cursor, window=window)
    assert not idle.changed
    trainer_event(me, world, "Conference", far, far.replace("T09", "T17"))
    assert connector.changed_since(TRAINER, idle.cursor, window=window).changed
    # A wider window than the cursor tracks starts a new round (and counts as changed).
    wider = (window[0], window[1] + dt.timedelta(days=30))
    assert connector.changed_since(TRAINER, idle.cursor, window=wider).changed
