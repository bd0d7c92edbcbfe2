"""The sync flows: all providers, one provider, one trainer, and verifying a service.

Orchestration only: a provider's cycle (`flows.cycle`, its steps as Prefect task runs) and
the flows around it. The work itself lives in `tasks/`. Every flow takes its resources
(store, secrets, connectors) from `tasks.resources.run_resources()`: those of an in-process
caller, else its own environment, so a served or worker run needs nothing a CLI process
set up.

A run ends Failed with a message and nothing else: per-trainer details go to its artifacts
and history (a state's data would be resolved, and fail, in served runs).
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta
from typing import Any, cast

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.exceptions import FailedRun
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.states import Cancelled, Completed, Failed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from flows.cycle import PrefectSteps, sync_cycle
from tasks.exchange import validate_service
from tasks.providers import enabled_providers, run_provider_deployment, service_config_named
from tasks.resources import Resources, run_resources, using

#: Task runs in flight at once within a provider run. Exchange concurrency is bounded per
#: service by the connector (its connection pool), not by this number.
TASK_WORKERS = 4
#: How long a fanned-out `sync-all` waits for one provider's run.
PROVIDER_RUN_WAIT = timedelta(hours=2)


def _task_runner() -> TaskRunner[PrefectFuture[Any]]:
    # Prefect's flow decorator is typed for the base runner; a thread pool is one.
    return cast(TaskRunner[PrefectFuture[Any]], ThreadPoolTaskRunner(max_workers=TASK_WORKERS))


class _ReportedFailure(logging.Filter):
    """Drops the engine's "unexpected exception" record for a run that ended Failed on purpose.

    When a flow returns a Failed state, Prefect's runtime entrypoint (served and worker runs)
    raises that state's `FailedRun` once the run is over and logs it with a traceback, as if
    the engine had crashed. The run's own message has been logged and its state set already.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        failure = record.exc_info[1] if record.exc_info else None
        return not (
            isinstance(failure, FailedRun)
            and record.getMessage().startswith("Engine execution exited with unexpected")
        )


class _NoExceptionToShow(logging.Filter):
    """Drops the empty exception ("NoneType: None") Prefect appends to the error it logs for a
    task run that returned a Failed state instead of raising (a failed trainer's task run)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is None:
            record.exc_info = None
        return True


logging.getLogger("prefect.flow_runs").addFilter(_ReportedFailure())
logging.getLogger("prefect.task_runs").addFilter(_NoExceptionToShow())


_STATES = {"completed": Completed, "failed": Failed, "cancelled": Cancelled}


def _sync(
    resources: Resources,
    provider: str,
    trainers: list[str] | None,
    dry_run: bool,
    allow_mass_delete: bool,
) -> State:
    end = sync_cycle(
        resources, provider, trainers, dry_run, allow_mass_delete, PrefectSteps(), flow_run.id
    )
    return _STATES[end.outcome](message=end.message)


@flow(
    name="sync-provider",
    flow_run_name="sync-provider-{provider}",
    task_runner=_task_runner(),
    persist_result=False,
)
def sync_provider(
    provider: str,
    trainers: list[str] | None = None,
    dry_run: bool = False,
    allow_mass_delete: bool = False,
) -> State:
    """Sync a provider's linked trainers (all, or those listed by email).

    Args:
        provider: The training provider's name.
        trainers: Only these trainers (emails); all linked trainers when empty.
        dry_run: Plan and report, but write nothing anywhere.
        allow_mass_delete: Apply plans that the mass-deletion guard would hold.
    """
    with run_resources() as resources:
        return _sync(resources, provider, trainers, dry_run, allow_mass_delete)


@flow(
    name="sync-trainer",
    flow_run_name="sync-trainer-{provider}-{trainer}",
    task_runner=_task_runner(),
    persist_result=False,
)
def sync_trainer(provider: str, trainer: str, allow_mass_delete: bool = False) -> State:
    """Rerun the sync of one trainer, e.g. after fixing its mailbox permissions.

    Args:
        provider: The training provider's name.
        trainer: The trainer's email.
        allow_mass_delete: Apply a plan that the mass-deletion guard would hold.
    """
    with run_resources() as resources:
        return _sync(resources, provider, [trainer], False, allow_mass_delete)


def _cycle_run_name() -> str:
    """`sync-all 2026-12-07 09:15 UTC`: a cycle's run is named by the time it was due, so
    the runs list reads as a timeline."""
    when = flow_run.scheduled_start_time.astimezone(UTC)
    return f"sync-all {when:%Y-%m-%d %H:%M} UTC"


@flow(name="sync-all", flow_run_name=_cycle_run_name, persist_result=False)
def sync_all(via_deployment: str | None = None) -> State:
    """Sync every provider whose sync engine is enabled.

    Args:
        via_deployment: Run each provider as a run of this deployment (e.g.
            "sync-provider/provider-fan-out"), so a work pool's workers share the cycle; by default
            providers run one after another as subflows of this run.
    """
    log = get_run_logger()
    with run_resources() as resources:
        providers = enabled_providers(resources)
        if not providers:
            log.info("No provider has the sync engine enabled; nothing to do.")
            return Completed(message="No provider has the sync engine enabled.")
        if via_deployment:
            futures = {
                name: run_provider_deployment.submit(via_deployment, name, PROVIDER_RUN_WAIT)
                for name in providers
            }
            states = {name: future.result().state for name, future in futures.items()}
        else:
            with using(resources):
                states = {
                    name: sync_provider(provider=name, return_state=True) for name in providers
                }
    failed = [
        name
        for name, state in states.items()
        if state is None or not state.is_final() or state.is_failed() or state.is_crashed()
    ]
    if failed:
        return Failed(
            message=f"{len(failed)} of {len(providers)} providers failed: {', '.join(failed)}"
        )
    return Completed(message=f"Synced {len(providers)} provider(s).")


@flow(name="verify-service", flow_run_name="verify-service-{service}", persist_result=False)
def verify_service(service: str) -> State:
    """Check a master account's credentials and endpoint, and record the result.

    Args:
        service: The service's name (see `trainer-sync service list`).
    """
    with run_resources() as resources:
        result = validate_service(resources, service_config_named(resources, service))
    if result.ok:
        return Completed(message=result.message)
    return Failed(message=f"{result.message} {result.hint or ''}".strip())


__all__ = ["sync_all", "sync_provider", "sync_trainer", "verify_service"]
