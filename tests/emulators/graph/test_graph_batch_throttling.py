"""JSON batching, 429 + Retry-After, the mailbox concurrency limit and injected faults."""

from __future__ import annotations

import pytest
import requests

from tests.emulators.graph.conftest import TRAINER, app_session, event


def _create(n: int, subject: str = "S") -> dict:
    return {
        "id": str(n),
        "method": "POST",
        "url": f"/users/{TRAINER}/events",
        "headers": {"Content-Type": "application/json"},
        "body": event(f"{subject}{n}", "2026-12-01T09:00:00", "2026-12-01T10:00:00"),
    }


def test_batch_limits_and_the_mailbox_concurrency_of_four(world):
    s = app_session(world)
    too_many = s.post(f"{world.url}/$batch", json={"requests": [_create(n) for n in range(21)]})
    assert too_many.status_code == 400
    parallel = s.post(f"{world.url}/$batch", json={"requests": [_create(n) for n in range(6)]})
    statuses = [r["status"] for r in parallel.json()["responses"]]
    assert statuses == [201] * 4 + [429] * 2
    assert parallel.json()["responses"][5]["headers"]["Retry-After"]
    chained = [_create(n) for n in range(10, 30)]
    for prev, req in zip(chained, chained[1:], strict=False):
        req["dependsOn"] = [prev["id"]]
    answers = s.post(f"{world.url}/$batch", json={"requests": chained}).json()["responses"]
    assert [a["status"] for a in answers] == [201] * 20
    assert len(world.control.items(TRAINER)) == 24


def test_a_refused_request_fails_its_dependants_with_424(world):
    s = app_session(world)
    world.control.faults(refuse=[{"subject_contains": "BAD", "code": "ErrorInvalidRequest"}])
    reqs = [_create(0), _create(1, "BAD"), _create(2)]
    reqs[1]["dependsOn"], reqs[2]["dependsOn"] = ["0"], ["1"]
    answers = s.post(f"{world.url}/$batch", json={"requests": reqs}).json()["responses"]
    assert [a["status"] for a in answers] == [201, 400, 424]
    assert answers[1]["body"]["error"]["code"] == "ErrorInvalidRequest"


def test_throttled_mailbox_answers_429_with_retry_after(world):
    s = app_session(world)
    world.control.throttling(throttle={TRAINER: 3})
    params = {"startDateTime": "2026-12-01T00:00:00Z", "endDateTime": "2026-12-02T00:00:00Z"}
    r = s.get(f"{world.url}/users/{TRAINER}/calendarView", params=params)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) in (2, 3)
    inside = s.post(f"{world.url}/$batch", json={"requests": [_create(0)]}).json()["responses"]
    assert inside[0]["status"] == 429 and "Retry-After" in inside[0]["headers"]
    world.control.throttling(clear=True, throttle_next={TRAINER: 1}, retry_after=7)
    r = s.get(f"{world.url}/users/{TRAINER}/calendarView", params=params)
    assert (r.status_code, r.headers["Retry-After"]) == (429, "7")
    assert s.get(f"{world.url}/users/{TRAINER}/calendarView", params=params).status_code == 200
    assert world.control.counters()["throttled"][TRAINER] == 3


def test_scheduled_faults_fail_the_next_batches(world):
    s = app_session(world)
    world.control.faults(schedule=[{"method": "POST", "path": "$batch", "count": 2, "status": 503}])
    assert s.post(f"{world.url}/$batch", json={"requests": [_create(0)]}).status_code == 503
    assert s.post(f"{world.url}/$batch", json={"requests": [_create(0)]}).status_code == 503
    assert s.post(f"{world.url}/$batch", json={"requests": [_create(0)]}).status_code == 200
    counts = world.control.counters()
    assert counts["by_operation"]["$batch"] == 3 and counts["subrequests"]["events.create"] == 1


def test_a_dropped_batch_is_carried_out_but_never_answered(world):
    s = app_session(world)
    world.control.faults(schedule=[{"method": "POST", "path": "$batch", "count": 1, "drop": True}])
    with pytest.raises(requests.exceptions.ConnectionError):
        s.post(f"{world.url}/$batch", json={"requests": [_create(0), _create(1)]})
    assert sorted(i["subject"] for i in world.control.items(TRAINER)) == ["S0", "S1"]
    assert s.post(f"{world.url}/$batch", json={"requests": [_create(2)]}).status_code == 200
