"""A trainer's health across runs, as an operator reads it: the run's health table (problems
first), its summary (each problem with its fix), a failed task run per failed trainer, and
`trainer-sync status`."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
)
from typer.testing import CliRunner

from flows.sync import sync_provider
from tests.flows.conftest import World, tomorrow
from tests.run_logs import run_logs
from trainer_sync.cli import app


def _artifacts(flow_run_id: UUID) -> dict[str, Any]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    # By key: the health table, the summary and the list of changes.
    names = {"trainer-sync-acme": "table", "trainer-sync-acme-summary": "markdown"}
    return {
        names.get(a.key or "", a.key or ""): json.loads(a.data) if a.type == "table" else a.data
        for a in found
    }


def _task_runs(flow_run_id: UUID) -> dict[str, str]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {r.name: r.state.type.value for r in runs if r.state is not None}


def _status(world: World) -> dict[str, dict[str, Any]]:
    result = CliRunner().invoke(app, ["--database-url", world.url, "status", "--json"])
    assert result.exit_code == 0, result.output
    return {r["trainer"]: r for r in json.loads(result.stdout)}


def test_a_trainer_failing_cycle_after_cycle_leads_every_view_until_fixed(
    ews_world: World,
) -> None:
    world = ews_world
    ann = world.trainer("ann", "out")
    rex = world.trainer("rex", "out", grant="Reviewer")  # may read, not write: out fails
    world.event("First Aid", [tomorrow(9)], [ann, rex])

    for _ in range(3):
        state = sync_provider(provider="Acme", return_state=True)
        assert state.is_failed()
    run_id = state.state_details.flow_run_id
    assert state.message.startswith("1 of 2 trainers failed (rex@acme.test)")

    artifacts = _artifacts(run_id)
    table = artifacts["table"]
    assert list(table[0])[:5] == [
        "trainer", "status", "failures_in_a_row", "last_success", "last_error"
    ]  # fmt: skip
    assert [(r["trainer"], r["status"], r["failures_in_a_row"]) for r in table] == [
        (rex, "failed", 3),
        (ann, "idle", 0),
    ]
    assert table[0]["last_success"] == "never" and table[1]["last_success"] != "never"
    assert table[0]["last_error"] and len(table[0]["last_error"]) <= 200
    assert table[1]["changes_this_run"] == "none"

    summary = artifacts["markdown"]
    attention = summary.index("## Needs attention: 1 trainer")
    assert attention < summary.index("## This run")  # problems lead
    assert "**rex@acme.test** (failed; failed 3 runs in a row, last success never)" in summary
    assert "Editor" in summary  # the fix: what to grant

    # Its warning is logged once in the run, however many steps saw it fail.
    warnings = [m for m in run_logs(run_id) if m.startswith(f"{rex}: ")]
    assert len(warnings) == 1, warnings

    # The failure shows in the task graph, not an all-green run.
    task_runs = _task_runs(run_id)
    assert task_runs[f"failed-{rex}"] == "FAILED"
    assert f"failed-{ann}" not in task_runs
    assert task_runs["extract-exchange-Acme-2-trainers"] == "COMPLETED"

    status = _status(world)
    assert (status[rex]["status"], status[rex]["failures_in_a_row"]) == ("failed", 3)
    assert status[rex]["last_success"] is None and "Editor" in status[rex]["error"]
    assert (status[ann]["status"], status[ann]["failures_in_a_row"]) == ("idle", 0)

    # The administrator grants Editor: the next cycle syncs Rex, and every view says so.
    world.side.control.grant(owner=rex, grantee="master@acme.test", calendar_role="Editor")
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    table = _artifacts(state.state_details.flow_run_id)["table"]
    rows = {r["trainer"]: r for r in table}
    assert (rows[rex]["status"], rows[rex]["failures_in_a_row"]) == ("synced", 0)
    assert rows[rex]["last_error"] == "" and rows[rex]["changes_this_run"].startswith("Outlook +1")
    artifacts = _artifacts(state.state_details.flow_run_id)
    assert "Every trainer is in step." in artifacts["markdown"]
    changes = artifacts["trainer-sync-acme-changes"]
    assert f"| {rex} | create 'First Aid — Leeds Centre': " in changes
    assert "| Outlook | new on the platform: added to Outlook | applied |" in changes
    command = f"trainer-sync history --run {state.state_details.flow_run_id}"
    assert changes.rstrip().endswith(f"`{command}`")
    listed = CliRunner().invoke(app, ["--database-url", world.url, *command.split()[1:], "--json"])
    assert listed.exit_code == 0, listed.output
    assert [(c["trainer"], c["action"], c["reason"]) for c in json.loads(listed.stdout)] == [
        (rex, "create", "new_in_platform")
    ]
    status = _status(world)
    assert status[rex]["failures_in_a_row"] == 0 and status[rex]["last_success"] is not None
    assert status[rex]["error"] is None


def test_a_dry_run_leaves_health_as_it_was(ews_world: World) -> None:
    world = ews_world
    rex = world.trainer("rex", "out", grant="Reviewer")
    world.event("First Aid", [tomorrow(9)], [rex])
    assert sync_provider(provider="Acme", return_state=True).is_failed()
    assert sync_provider(provider="Acme", dry_run=True, return_state=True).is_failed()
    assert _status(world)[rex]["failures_in_a_row"] == 1
