"""The deployments on a real Prefect server (`prefect server start`), as the UI sees them."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from uuid import UUID

import pytest
from prefect import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.exceptions import ObjectNotFound

from deployments.serve import (
    FAN_OUT_NAME,
    TAMPER_SCHEDULE,
    apply_to_work_pool,
    build_deployments,
    cycle_name,
    remove_stale_deployments,
)
from flows.sync import sync_provider
from flows.tamper import tamper_report
from sync_rules.errors import ConfigurationError
from tests.flows.conftest import World, tomorrow


def _task_run_names(flow_run_id: UUID, wait: float = 15) -> set[str]:
    """Names (without suffix) of a flow run's task runs, once the server has recorded some."""
    deadline = time.monotonic() + wait
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            names = {r.name.rsplit("-", 1)[0] for r in runs}
            if "record-history" in names or time.monotonic() > deadline:
                return names
            time.sleep(0.5)


def test_deployments_exist_and_a_provider_run_publishes_its_table(
    prefect_api: str,
    ews_world: World,
) -> None:
    world = ews_world
    for deployment in build_deployments(interval_minutes=20):
        deployment.apply()

    with get_client(sync_client=True) as client:
        assert str(client.api_url).startswith(prefect_api)  # this server, not the harness
        names = {
            "sync-all": "every-20-minutes",
            "sync-provider": "provider-on-demand",
            "sync-trainer": "trainer-rerun",
            "verify-service": "service-check",
            "tamper-report": "weekly",
        }
        found = {
            flow: client.read_deployment_by_name(f"{flow}/{name}") for flow, name in names.items()
        }
        # Named after their job: the UI's list shows five different titles.
        assert len({d.name for d in found.values()}) == 5
        cycle = found["sync-all"]
        assert [s.schedule.interval for s in cycle.schedules] == [timedelta(minutes=20)]
        assert all(s.active for s in cycle.schedules) and not cycle.paused
        weekly = found["tamper-report"]
        assert [s.schedule.cron for s in weekly.schedules] == [TAMPER_SCHEDULE]
        assert "provider" in weekly.parameter_openapi_schema["properties"]
        assert weekly.parameter_openapi_schema.get("required", []) == []
        for manual in ("sync-provider", "sync-trainer", "verify-service"):
            assert found[manual].schedules == [], manual
        # The UI builds its run form from the parameter schema.
        schema = found["sync-provider"].parameter_openapi_schema
        assert schema["required"] == ["provider"]
        assert schema["properties"]["dry_run"]["type"] == "boolean"
        assert found["sync-trainer"].parameter_openapi_schema["required"] == [
            "provider",
            "trainer",
        ]
        limits = {
            name: (d.global_concurrency_limit.limit, d.concurrency_options.collision_strategy)
            for name, d in found.items()
            if d.global_concurrency_limit is not None
        }
        assert {name: (n, str(s.value)) for name, (n, s) in limits.items()} == {
            "sync-all": (1, "CANCEL_NEW"),
            "sync-provider": (1, "ENQUEUE"),
            "sync-trainer": (1, "ENQUEUE"),
        }

    ann = world.trainer("ann", "out")
    world.event("First Aid", [tomorrow(9)], [ann])
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    flow_run_id = state.state_details.flow_run_id

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        assert run.state is not None and run.state.is_completed()
        assert run.name == "sync-provider-Acme"
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["trainer-sync-acme"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
    assert [a.type for a in artifacts] == ["table"]
    # The run's task runs reach this server too (they travel as events, recorded a bit later).
    assert "record-history" in _task_run_names(flow_run_id)
    rows = json.loads(artifacts[0].data)  # a table artifact keeps its rows as JSON
    assert [(r["trainer"], r["status"], r["changes_this_run"]) for r in rows] == [
        (ann, "synced", "Outlook +1 ~0 -0, platform +0 ~0 -0")
    ]


def test_deployments_go_to_an_existing_work_pool_for_workers_elsewhere(prefect_api: str) -> None:
    with pytest.raises(ConfigurationError, match="no work pool 'nowhere'") as refused:
        apply_to_work_pool("nowhere", 15)
    assert "prefect work-pool create nowhere" in (refused.value.hint or "")

    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="trainer-sync", type="process"))
        names = apply_to_work_pool("trainer-sync", 30)
        assert len(names) == 5 and "tamper-report/weekly" in names
        for name in names:
            deployment = client.read_deployment_by_name(name)
            assert deployment.work_pool_name == "trainer-sync", name
            # Workers import the flows from the installed package, wherever they run.
            assert deployment.entrypoint.startswith("flows."), deployment.entrypoint
        cycle = client.read_deployment_by_name(f"sync-all/{cycle_name(30)}")
        assert [s.schedule.interval for s in cycle.schedules] == [timedelta(minutes=30)]

        # Another interval is another cycle: the old one goes, or both would run.
        names = apply_to_work_pool("trainer-sync", 1)
        assert "sync-all/every-1-minute" in names
        with pytest.raises(ObjectNotFound):
            client.read_deployment_by_name(f"sync-all/{cycle_name(30)}")
        assert remove_stale_deployments(build_deployments(1)) == []


def test_fan_out_registers_a_provider_deployment_that_sync_all_starts(prefect_api: str) -> None:
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="fan-pool", type="process"))
        names = apply_to_work_pool("fan-pool", 15, fan_out=True)
        assert f"sync-provider/{FAN_OUT_NAME}" in names
        fan_out = client.read_deployment_by_name(f"sync-provider/{FAN_OUT_NAME}")
        assert fan_out.global_concurrency_limit is None  # providers run side by side
        cycle = client.read_deployment_by_name(f"sync-all/{cycle_name(15)}")
        assert cycle.parameters == {"via_deployment": f"sync-provider/{FAN_OUT_NAME}"}


def test_the_tamper_report_publishes_its_table_on_the_server(
    prefect_api: str, ews_world: World
) -> None:
    world = ews_world
    ann = world.trainer("ann", "out")
    world.event("First Aid", [tomorrow(9)], [ann])
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    (item,) = world.items(ann)
    world.side.delete(ann, item["id"])
    assert sync_provider(provider="Acme", return_state=True).is_completed()

    state = tamper_report(return_state=True)
    assert state.is_completed(), state.message
    with get_client(sync_client=True) as client:
        assert str(client.api_url).startswith(prefect_api)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(
                    any_=["trainer-sync-acme-tamper", "trainer-sync-acme-tamper-summary"]
                ),
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
            )
        )
    by_type = {a.type: a for a in artifacts}
    assert set(by_type) == {"table", "markdown"}
    rows = json.loads(by_type["table"].data)
    assert [(r["trainer"], r["deletions_7d"], r["edits_7d"]) for r in rows] == [(ann, 1, 0)]
    assert rows[0]["modified_by"] == "unknown ×1"  # a deletion leaves no one to name
    summary = str(by_type["markdown"].data)
    assert summary.splitlines()[0] == "# Outlook overrides at Acme"
    assert "First Aid" not in summary
