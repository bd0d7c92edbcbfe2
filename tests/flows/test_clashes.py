"""Clashes, as an operator meets them: a session pushed onto time the trainer's own Outlook
calendar shows as Busy is reported once, in the run's clashes table, as an event and by
`trainer-sync report clashes`, until the trainer moves the appointment away."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from sqlalchemy import text
from typer.testing import CliRunner

from connectors.platform import db
from flows.sync import sync_provider
from tasks.events import CLASH_FOUND
from tests.flows.conftest import World, tomorrow
from trainer_sync.cli import app

PRIVATE = ("Therapy", "Harley Street", "Private notes")


def _sync(world: World, **params: Any) -> UUID:
    state = sync_provider(provider="Acme", return_state=True, **params)
    assert state.is_completed(), state.message
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    return run_id


def _clashes_table(run_id: UUID, key: str | None = "trainer-sync-acme-clashes") -> list[dict]:
    """The run's clashes table artifact, checking its key."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    (table,) = [a for a in found if (a.description or "").startswith("Sessions on time")]
    assert table.type == "table" and table.key == key
    rows: list[dict] = json.loads(table.data)
    return rows


def _events(run_id: UUID, at_least: int = 0) -> list[dict[str, Any]]:
    """The clash events of a run, as the Prefect server holds them. They arrive a moment
    after the run: wait until there are `at_least`, and a few seconds for more."""
    deadline = time.monotonic() + (30 if at_least else 3)
    while True:
        with get_client(sync_client=True) as client:
            response = client.request(
                "POST",
                "/events/filter",
                json={"filter": {"event": {"name": [CLASH_FOUND]}}, "limit": 50},
            )
        found = [
            e
            for e in response.json()["events"]
            if any(r["prefect.resource.id"] == f"prefect.flow-run.{run_id}" for r in e["related"])
        ]
        if (at_least and len(found) >= at_least) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _local(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("Europe/London")).strftime("%Y %H:%M")


def _report(world: World, *args: str) -> Any:
    result = CliRunner().invoke(app, ["--database-url", world.url, "report", "clashes", *args])
    assert result.exit_code == 0, result.output
    return result


def test_a_busy_appointment_under_a_session_is_reported_once_until_it_moves(
    world: World,
) -> None:
    ann = world.trainer("ann", "both")
    world.event("First Aid", [tomorrow(9)], [ann])  # 09:00–12:00
    busy = world.add_appointment(ann, "Therapy at Harley Street", tomorrow(10), tomorrow(11))
    world.add_appointment(ann, "Therapy (free)", tomorrow(11), tomorrow(12), show_as="Free")

    run_id = _sync(world)
    (row,) = _clashes_table(run_id)
    assert row["trainer"] == ann and row["new"] == "new"
    assert row["session"].startswith("First Aid, ") and row["shown_as"] == "Busy"
    assert (row["busy_from"][-10:], row["busy_to"][-10:]) == (
        _local(tomorrow(10)),
        _local(tomorrow(11)),
    )
    first_run = run_id
    (event,) = _events(run_id, at_least=1)
    assert event["resource"]["trainer-sync.trainer"] == ann
    assert "First Aid" in event["payload"]["message"]
    assert "shown as Busy" in event["payload"]["message"]
    assert event["payload"]["show_as"] == "Busy"
    assert event["payload"]["busy_start"] == tomorrow(10).isoformat()

    listed = json.loads(_report(world, "--json").stdout)
    assert [(c["trainer"], c["course"], c["show_as"]) for c in listed] == [
        (ann, "First Aid", "Busy")
    ]
    assert (listed[0]["busy_start"], listed[0]["busy_end"]) == (
        tomorrow(10).isoformat(),
        tomorrow(11).isoformat(),
    )
    shown = _report(world).stdout
    assert ann in shown and "First Aid" in shown and "Busy" in shown
    status = CliRunner().invoke(app, ["--database-url", world.url, "status", "--json"])
    assert [r["clashes"] for r in json.loads(status.stdout)] == [1]

    # A later run that reads Ann again (she added something) still sees it: not new, not
    # announced again.
    world.add_appointment(ann, "Therapy (also free)", tomorrow(15), tomorrow(16), show_as="Free")
    run_id = _sync(world)
    assert [r["status"] for r in world.records()] == ["synced"]  # read again, not idle
    (row,) = _clashes_table(run_id)
    assert row["new"] == ""
    assert _events(run_id) == []
    assert len(json.loads(_report(world, "--json").stdout)) == 1

    # She moves the appointment away: the clash is resolved, and the lists are empty.
    world.side.edit(ann, busy, start=tomorrow(14), end=tomorrow(15))
    run_id = _sync(world)
    assert _clashes_table(run_id) == []
    assert json.loads(_report(world, "--json").stdout) == []
    assert "No clashes" in _report(world).stdout
    status = CliRunner().invoke(app, ["--database-url", world.url, "status", "--json"])
    assert [r["clashes"] for r in json.loads(status.stdout)] == [0]
    (resolved,) = json.loads(_report(world, "--all", "--json").stdout)
    assert resolved["resolved_at"] is not None

    # Nothing of the appointment's own text is kept or shown anywhere.
    with db.get_engine(world.url).connect() as c:
        stored = repr(c.execute(text("SELECT * FROM trainer_clashes")).all())
    seen = stored + json.dumps(_events(first_run, at_least=1)) + _report(world, "--all").stdout
    for detail in PRIVATE:
        assert detail not in seen


def test_an_out_trainer_is_reported_and_an_in_trainer_is_not(world: World) -> None:
    ann = world.trainer("ann", "out")
    ben = world.trainer("ben", "in")
    world.event("First Aid", [tomorrow(9)], [ann, ben])
    for who in (ann, ben):
        world.add_appointment(who, "Out of office", tomorrow(8), tomorrow(18))
    run_id = _sync(world)
    assert [r["trainer"] for r in _clashes_table(run_id)] == [ann]


def test_a_dry_run_shows_the_clash_but_saves_and_sends_nothing(world: World) -> None:
    ann = world.trainer("ann", "both")
    world.event("First Aid", [tomorrow(9)], [ann])
    world.add_appointment(ann, "Dentist", tomorrow(10), tomorrow(11))
    run_id = _sync(world, dry_run=True)
    (row,) = _clashes_table(run_id)
    assert row["new"] == "new"
    assert json.loads(_report(world, "--json").stdout) == []
    assert _events(run_id) == []


def test_a_rerun_of_one_trainer_publishes_its_clashes_on_its_own_run(world: World) -> None:
    ann = world.trainer("ann", "both")
    world.event("First Aid", [tomorrow(9)], [ann])
    world.add_appointment(ann, "Dentist", tomorrow(10), tomorrow(11))
    run_id = _sync(world, trainers=[ann])
    (row,) = _clashes_table(run_id, key=None)
    assert row["trainer"] == ann
