"""The Prefect deployments of trainer-sync: served from one process, or run by a work pool.

`sync-all` runs on a schedule; `sync-provider`, `sync-trainer` and `verify-service` are run by
hand from the Prefect UI (their parameters are typed, so the UI shows a form). Secrets never
appear in parameters: services name a secret reference, resolved inside the run.
"""

from __future__ import annotations

import os
import urllib.request
from datetime import timedelta
from typing import cast

from prefect import get_client, serve
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterTags,
    FlowFilter,
    FlowFilterId,
    FlowFilterName,
)
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL
from prefect.types.entrypoint import EntrypointType

from deployments.alerts import ensure_automations
from flows.sync import sync_all, sync_provider, sync_trainer, verify_service
from flows.tamper import tamper_report
from sync_rules.errors import ConfigurationError
from sync_rules.text import plural

#: The deployments are named after their job, so the UI's deployment list and its run
#: filters tell them apart: `sync-all/every-15-minutes`, `sync-provider/provider-on-demand`,
#: `sync-trainer/trainer-rerun`, `verify-service/service-check`, `tamper-report/weekly` (and
#: `sync-provider/
#: provider-fan-out` for a fanned-out cycle). The schedule is in the cycle's name, so a new
#: interval is a new deployment: registering removes the project's deployments of older
#: names (their past runs stay, under the flow's name).
PROVIDER_NAME = "provider-on-demand"
TRAINER_NAME = "trainer-rerun"
SERVICE_NAME = "service-check"
#: `tamper-report/weekly`: who overrides the platform in Outlook, every Monday morning.
TAMPER_NAME = "weekly"
TAMPER_SCHEDULE = "0 6 * * 1"  # Mondays 06:00 UTC, before the week's planning
DEFAULT_INTERVAL_MINUTES = 15
MAX_INTERVAL_MINUTES = 7 * 24 * 60  # a schedule rarer than weekly is no sync at all
INTERVAL_ENV = "TRAINER_SYNC_INTERVAL_MINUTES"
TAG = "trainer-sync"

#: An overlapping cycle is pointless: the providers it would sync are still locked by the
#: previous one. The late cycle is cancelled (visible in the UI), not queued behind it.
CYCLE_LIMIT = ConcurrencyLimitConfig(
    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
)
#: A deployment limit counts runs of the deployment whatever their parameters: limit 1 means
#: one manual run of *any* provider at a time, not one per provider. With CANCEL_NEW, a rerun of
#: trainer B started while trainer A's rerun is going would be cancelled although it collides
#: with nothing; with ENQUEUE it waits its turn (the server retries every 30 s). So manual runs
#: queue, at the cost of runs of different providers waiting for one another; the per-provider
#: lock taken inside every provider run (also by the scheduled cycle) is what refuses a second
#: sync of the same provider: that run ends Cancelled, naming the holder.
MANUAL_LIMIT = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
#: Flow runs a serving process runs at once, each in its own process (~300 MiB for a few
#: hundred trainers): one of each deployment. Further runs wait for a free slot.
SERVE_RUN_LIMIT = 4


def resolve_interval(interval_minutes: int | None = None) -> int:
    """The schedule of `sync-all` in minutes: the argument, else $TRAINER_SYNC_INTERVAL_MINUTES,
    else 15."""
    source = "--interval-minutes"
    value: int | str | None = interval_minutes
    if value is None:
        value, source = os.environ.get(INTERVAL_ENV, "").strip() or None, INTERVAL_ENV
    if value is None:
        return DEFAULT_INTERVAL_MINUTES
    try:
        minutes = int(value)
    except ValueError:
        minutes = 0
    if not 1 <= minutes <= MAX_INTERVAL_MINUTES:
        raise ConfigurationError(
            f"{source} must be a whole number of minutes from 1 to {MAX_INTERVAL_MINUTES} "
            f"(a week), not {value!r}.",
            f"Set {source} to e.g. {DEFAULT_INTERVAL_MINUTES}.",
        )
    return minutes


#: The extra `sync-provider` deployment a fanned-out `sync-all` starts once per provider. It has
#: no deployment concurrency limit (limit 1 would run the providers one at a time); the
#: provider lock still keeps one run per provider.
FAN_OUT_NAME = "provider-fan-out"


def cycle_name(interval_minutes: int) -> str:
    """The scheduled cycle's deployment name: `every-15-minutes`, `every-1-minute`."""
    return "every-" + plural(interval_minutes, "minute").replace(" ", "-")


def build_deployments(interval_minutes: int, fan_out: bool = False) -> list[RunnerDeployment]:
    """The five deployments, ready to `apply()` or serve; `sync-all` every `interval_minutes`.

    With `fan_out`, `sync-all` starts each provider as a run of a fifth deployment,
    `sync-provider/provider-fan-out`, so the workers of a work pool share one cycle.
    """
    if interval_minutes < 1:
        raise ConfigurationError(
            f"The sync interval must be at least 1 minute, not {interval_minutes}."
        )
    # Entrypoints as module paths: importable from any directory a worker runs in.
    module = EntrypointType.MODULE_PATH
    deployments = [
        sync_all.to_deployment(
            cycle_name(interval_minutes),
            interval=timedelta(minutes=interval_minutes),
            parameters={"via_deployment": f"sync-provider/{FAN_OUT_NAME}"} if fan_out else {},
            concurrency_limit=CYCLE_LIMIT,
            description=(
                f"Every {interval_minutes} min: syncs each provider whose sync engine is "
                "enabled, one sync-provider run each."
            ),
            tags=[TAG, "scheduled"],
            entrypoint_type=module,
        ),
        sync_provider.to_deployment(
            PROVIDER_NAME,
            concurrency_limit=MANUAL_LIMIT,
            description=(
                "Sync one provider now: all its linked trainers, or those listed by email. "
                "dry_run plans and reports without writing; allow_mass_delete applies plans "
                "that the mass-deletion guard holds."
            ),
            tags=[TAG, "manual"],
            entrypoint_type=module,
        ),
        sync_trainer.to_deployment(
            TRAINER_NAME,
            concurrency_limit=MANUAL_LIMIT,
            description=(
                "Rerun one trainer (by email), e.g. after fixing its mailbox permissions. "
                "allow_mass_delete applies a plan that the mass-deletion guard holds."
            ),
            tags=[TAG, "manual"],
            entrypoint_type=module,
        ),
        verify_service.to_deployment(
            SERVICE_NAME,
            description=(
                "Check a service's master account: credentials, endpoint and calendar access."
            ),
            tags=[TAG, "manual"],
            entrypoint_type=module,
        ),
        tamper_report.to_deployment(
            TAMPER_NAME,
            cron=TAMPER_SCHEDULE,
            description=(
                "Weekly: per provider, the trainers who edited, moved or deleted pushed "
                "sessions in Outlook in the last 7 and 30 days, as artifacts."
            ),
            tags=[TAG, "scheduled"],
            entrypoint_type=module,
        ),
    ]
    if fan_out:
        deployments.append(
            sync_provider.to_deployment(
                FAN_OUT_NAME,
                description="One provider of a fanned-out sync-all cycle (started by sync-all).",
                tags=[TAG, "fan-out"],
                entrypoint_type=module,
            )
        )
    # `to_deployment` is awaitable only when called from async code; here it builds at once.
    return [cast(RunnerDeployment, d) for d in deployments]


def api_url() -> str:
    """The Prefect API the deployments go to; an error if there is none or it does not answer."""
    url: str | None = PREFECT_API_URL.value()
    if not url:
        raise ConfigurationError(
            "No Prefect server is configured (PREFECT_API_URL is not set).",
            "Start one with `make ui`, or run `prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api.",
        )
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=5):
            pass
    except OSError as exc:  # refused, timed out, or an HTTP error status
        raise ConfigurationError(
            f"The Prefect server at {url} does not answer ({exc}).",
            "Start it (`prefect server start`) or fix PREFECT_API_URL.",
        ) from None
    return url


def ui_url() -> str | None:
    """Where the Prefect UI of the configured server is."""
    url: str | None = PREFECT_UI_URL.value()
    return url


def serve_deployments(interval_minutes: int) -> None:
    """Register the deployments and the alerts' automations, and run the deployments' flow
    runs from this process until stopped.

    Stopping pauses the `sync-all` schedule, so no cycles pile up as Late while nothing serves
    them; serving again resumes it.
    """
    deployments = build_deployments(interval_minutes)
    remove_stale_deployments(deployments)
    ensure_automations(interval_minutes)
    serve(*deployments, print_starting_message=False, limit=SERVE_RUN_LIMIT)


def remove_stale_deployments(current: list[RunnerDeployment]) -> list[str]:
    """Delete the project's deployments (tagged `trainer-sync`) of the five flows that are not
    among `current`: a cycle of another interval would go on running beside the new one,
    and the old names would crowd the UI. Returns the names removed."""
    keep = {(d.flow_name, d.name) for d in current}
    removed: list[str] = []
    with get_client(sync_client=True) as client:
        # The five flows, read once: a deployment names its flow by id only.
        flows = client.read_flows(
            flow_filter=FlowFilter(
                name=FlowFilterName(any_=[d.flow_name for d in current if d.flow_name])
            )
        )
        flow_names = {f.id: f.name for f in flows}
        if not flow_names:  # nothing registered yet
            return removed
        for found in client.read_deployments(
            flow_filter=FlowFilter(id=FlowFilterId(any_=list(flow_names))),
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TAG])),
        ):
            name = (flow_names[found.flow_id], found.name)
            if name not in keep:
                client.delete_deployment(found.id)
                removed.append("/".join(name))
    return removed


def apply_to_work_pool(work_pool: str, interval_minutes: int, fan_out: bool = False) -> list[str]:
    """Register the deployments in a work pool instead of serving them, and the alerts'
    automations; returns the deployments' names.

    The pool's workers (`prefect worker start --pool <name>`, on any machine with trainer-sync
    installed and the same environment) then run the scheduled and manual runs.
    """
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(work_pool)
        except ObjectNotFound:
            raise ConfigurationError(
                f"The Prefect server has no work pool {work_pool!r}.",
                f"Create it with `prefect work-pool create {work_pool} --type process`.",
            ) from None
    names = []
    deployments = build_deployments(interval_minutes, fan_out)
    remove_stale_deployments(deployments)
    ensure_automations(interval_minutes)
    for deployment in deployments:
        deployment.apply(work_pool_name=work_pool)
        names.append(f"{deployment.flow_name}/{deployment.name}")
    return names
