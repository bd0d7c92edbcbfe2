"""Alerts end to end on a real Prefect server: a channel added with the CLI, the automations
that serving creates, runs of the sync, and a webhook receiver on the loopback interface
that gets what ops would get."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prefect import get_client
from sqlalchemy import delete
from typer.testing import CliRunner

from connectors.platform import configuration, db
from connectors.platform.models import EventSession, EventTrainer
from deployments.alerts import NAME_PREFIX, alert_definitions, ensure_automations
from flows.sync import sync_provider, verify_service
from tests.deployments.conftest import drain_prefect_workers
from tests.flows.conftest import World, tomorrow
from trainer_sync.cli import app

#: How long the server may take from a run's event to the webhook (events, triggers, actions).
DELIVERY_TIMEOUT = 60.0
#: How long "nothing arrives" is watched for.
QUIET_FOR = 8.0


class Receiver:
    """A webhook endpoint on 127.0.0.1 that keeps every JSON body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/ops"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, text: str, timeout: float = DELIVERY_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body in self.bodies:
                if text in body.get("subject", "") + body.get("body", ""):
                    return body
            drain_prefect_workers()  # send this process's queued events now
            time.sleep(0.5)
        pytest.fail(f"no notification mentioning {text!r} arrived; got {self.bodies!r}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _cli(*args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(app, list(args), input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def _automations() -> dict[str, Any]:
    with get_client(sync_client=True) as client:
        return {a.name: a for a in client.read_automations() if a.name.startswith(NAME_PREFIX)}


def test_a_trainer_failing_three_cycles_is_sent_to_the_webhook_and_a_healthy_run_is_not(
    prefect_api: str, ews_world: World, receiver: Receiver
) -> None:
    world = ews_world
    ensure_automations(15)  # what `trainer-sync serve` does before serving
    shown = _cli("alerts", "add", "--webhook", "-", "--name", "ops", stdin=receiver.url + "\n")
    assert "Added alert channel ops (webhook)" in shown
    assert receiver.url not in _cli("alerts", "list")  # the URL is a secret of the block

    automations = _automations()
    assert sorted(automations) == sorted(a.name for a in alert_definitions(15))
    sending = automations[NAME_PREFIX + "trainer failing"].actions
    assert [a.type for a in sending] == ["send-notification"]

    _cli("alerts", "test", "ops")
    test_body = receiver.wait_for("test notification")
    assert test_body["source"] == "trainer-sync"
    receiver.bodies.clear()

    # All is well: nothing goes out.
    ann = world.trainer("ann", "out")
    (session_id,) = world.event("First Aid", [tomorrow(9)], [ann])
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    drain_prefect_workers()
    time.sleep(QUIET_FOR)
    assert receiver.bodies == []

    # Rex's mailbox lets the master account read, not write: every `out` run fails him.
    rex = world.trainer("rex", "out", grant="Reviewer")
    with db.transaction(world.url) as s:  # rex joins ann's course
        event_id = s.get_one(EventSession, session_id).event_id
        s.add(EventTrainer(event_id=event_id, trainer_id=world.trainers[rex]))
    for cycle in range(1, 4):
        assert sync_provider(provider="Acme", return_state=True).is_failed()
        if cycle == 1:  # the provider's run failed: sent at once
            failed_run = receiver.wait_for("sync-provider-Acme Failed")
            assert "1 of 2 trainers failed (rex@acme.test)" in failed_run["body"]
            assert "Provider: Acme" in failed_run["body"]
        if cycle < 3:
            drain_prefect_workers()
            time.sleep(2)
            assert not any("trainer failing" in b["subject"] for b in receiver.bodies)

    alert = receiver.wait_for("trainer failing")
    assert alert["subject"] == "trainer-sync: trainer failing (Acme)"
    body = alert["body"]
    assert body.startswith(f"{rex} (Acme) failed 3 runs in a row; last success never.")
    assert "Provider: Acme" in body and f"Trainer: {rex}" in body
    assert "Run: sync-provider-Acme" in body
    assert "Editor" in body  # the admin-facing fix: what to grant
    assert ann not in body
    # The provider's failing runs are not sent again within the repeat interval.
    assert sum("sync-provider-Acme Failed" in b["subject"] for b in receiver.bodies) == 1

    _cli("alerts", "remove", "ops")
    assert [a.type for a in _automations()[NAME_PREFIX + "trainer failing"].actions] == [
        "do-nothing"
    ]


def test_serving_twice_keeps_one_automation_of_each_kind_and_follows_the_interval(
    prefect_api: str,
) -> None:
    ensure_automations(15)
    ensure_automations(5)
    automations = _automations()
    assert len(automations) == len(alert_definitions(5))
    quiet = automations[NAME_PREFIX + "no sync cycle"].trigger
    assert quiet.within.total_seconds() == 2 * 5 * 60  # type: ignore[union-attr]
    assert quiet.posture == "Proactive"  # type: ignore[union-attr]


def test_a_service_failing_and_a_secret_near_its_end_reach_the_webhook(
    prefect_api: str, ews_world: World, receiver: Receiver
) -> None:
    world = ews_world
    ensure_automations(15)
    _cli("alerts", "add", "--webhook", receiver.url, "--name", "ops-2")
    soon = (world.clock() + timedelta(days=10)).date()
    url = ["--database-url", world.url]
    assert "expires on" in _cli(*url, "service", "secret-expires", world.service, f"{soon}")

    assert verify_service(service=world.service, return_state=True).is_completed()
    expiring = receiver.wait_for("credential expiring")
    assert expiring["body"].startswith(
        f"The secret of service {world.service} expires on {soon}, in 10 days"
    )
    assert f"Service: {world.service}" in expiring["body"]

    # The service's endpoint moved to where nothing answers.
    closed = "http://127.0.0.1:9/EWS/Exchange.asmx"
    _cli(*url, "service", "set", world.service, "--endpoint", closed, "--no-verify")
    assert verify_service(service=world.service, return_state=True).is_failed()
    failing = receiver.wait_for("service failing verification")
    assert failing["body"].startswith(f"Service {world.service} (Acme) failed verification")
    assert "127.0.0.1:9" in failing["body"]  # what failed, named
    _cli("alerts", "remove", "ops-2")


def test_throttling_over_the_providers_threshold_and_a_held_mass_deletion_are_sent(
    prefect_api: str, ews_world: World, receiver: Receiver
) -> None:
    world = ews_world
    ensure_automations(15)
    _cli("alerts", "add", "--webhook", receiver.url, "--name", "ops-3")
    with db.transaction(world.url) as s:  # this provider alerts from the second back-off
        configuration.get_provider(s, "Acme").rules = {"alerts": {"throttled_over": 1}}
    trainers = [world.trainer(name, "out") for name in ("ann", "bob", "cat")]
    world.event("First Aid", [tomorrow(9, days=d) for d in range(1, 13)], trainers)
    with world.side.throttling_storm():
        assert sync_provider(provider="Acme", return_state=True).is_completed()
    throttled = receiver.wait_for("exchange throttling")
    assert "Exchange asked the sync of Acme to back off" in throttled["body"]
    assert "(alert above 1)" in throttled["body"]

    with db.transaction(world.url) as s:  # the platform's sessions wiped by mistake
        s.execute(delete(EventSession))
    sync_provider(provider="Acme", return_state=True)
    held = receiver.wait_for("mass deletion held")
    assert "held 12 deletions of" in held["body"]
    assert "--allow-mass-delete" in held["body"]
    _cli("alerts", "remove", "ops-3")
