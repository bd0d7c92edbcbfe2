"""The sync flows: all providers, one provider, one trainer, and verifying a service.

Orchestration only: which tasks run, in what order, on which chunks of trainers. The work
itself lives in `tasks/`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Cancelled, Completed, Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from tasks.context import load_provider
from tasks.exchange import TrainerOutcome, extract_exchange, load_exchange, validate_service
from tasks.history import record_history, totals
from tasks.locks import provider_lock
from tasks.plan import plan_provider
from tasks.platform import extract_platform, load_platform, refresh_fingerprints
from tasks.providers import enabled_providers, run_provider_deployment, service_config_named
from tasks.runtime import chunks

#: Task runs in flight at once within a provider run. Exchange concurrency is bounded per
#: service by the connector (its connection pool), not by this number.
TASK_WORKERS = 4
#: A lock older than this belongs to a crashed run and is taken over.
LOCK_TTL = timedelta(hours=2)


def _sync(
    provider: str, trainers: list[str] | None, dry_run: bool, allow_mass_delete: bool
) -> State:
    log = get_run_logger()
    run = load_provider(provider, trainers, datetime.now(UTC), dry_run, allow_mass_delete)
    run_id = str(flow_run.id) if flow_run.id else None
    holder = run_id or f"local-{uuid.uuid4()}"
    with provider_lock(run.provider_id, holder, LOCK_TTL, skip=dry_run) as other:
        if other is not None:
            message = f"{provider} is already being synced by run {other}; this run did nothing."
            log.warning(message)
            return Cancelled(message=message)

        failed_services = {}
        for name in run.services_to_verify:
            result = validate_service(run.services[name])
            if not result.ok:
                failed_services[name] = f"{result.message} {result.hint or ''}".strip()
        checkable = [t for t in run.trainers if t.service not in failed_services]
        skipped = [
            TrainerOutcome(t, "failed", error=f"Service {t.service}: {failed_services[t.service]}")
            for t in run.trainers
            if t.service in failed_services
        ]

        platform, fingerprints = extract_platform(run)
        extracted = [
            extract_exchange.submit(run, chunk, fingerprints) for chunk in chunks(checkable)
        ]
        outcomes = [o for future in extracted for o in future.result()]
        plan, adopt = plan_provider(run, platform, outcomes)

        if not dry_run:
            loads = [load_exchange.submit(run, chunk, plan, adopt) for chunk in chunks(outcomes)]
            read_ids = [o.trainer.trainer_id for o in outcomes if o.status == "read"]
            platform_writes = load_platform(run, plan, read_ids)
            outcomes = [o for future in loads for o in future.result()]
            if platform_writes:
                fingerprints = refresh_fingerprints(run)

        records = record_history(run, outcomes + skipped, plan, fingerprints, run_id)

    failures = [r for r in records if r["status"] == "failed"]
    summary = _summary(provider, records, dry_run)
    if failures:
        names = ", ".join(r["trainer"] for r in failures[:5])
        message = f"{len(failures)} of {len(records)} trainers failed ({names}). {summary}"
        log.error(message)
        return Failed(message=message, data=records)
    log.info(summary)
    return Completed(message=summary, data=records)


def _summary(provider: str, records: list[dict[str, Any]], dry_run: bool) -> str:
    total = totals(records)
    verb = "would change" if dry_run else "changed"
    return (
        f"{provider}: {len(records)} trainers; {verb} Exchange "
        f"+{total['exchange_created']} ~{total['exchange_updated']} -{total['exchange_deleted']}, "
        f"platform +{total['platform_created']} ~{total['platform_updated']} "
        f"-{total['platform_deleted']}; held {total['exchange_held'] + total['platform_held']}."
    )


@flow(
    name="sync-provider",
    flow_run_name="sync-provider-{provider}",
    task_runner=ThreadPoolTaskRunner(max_workers=TASK_WORKERS),
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
    return _sync(provider, trainers, dry_run, allow_mass_delete)


@flow(
    name="sync-trainer",
    flow_run_name="sync-trainer-{provider}-{trainer}",
    task_runner=ThreadPoolTaskRunner(max_workers=TASK_WORKERS),
    persist_result=False,
)
def sync_trainer(provider: str, trainer: str, allow_mass_delete: bool = False) -> State:
    """Rerun the sync of one trainer, e.g. after fixing its mailbox permissions.

    Args:
        provider: The training provider's name.
        trainer: The trainer's email.
        allow_mass_delete: Apply a plan that the mass-deletion guard would hold.
    """
    return _sync(provider, [trainer], False, allow_mass_delete)


@flow(name="sync-all", flow_run_name="sync-all-{scheduled_label}", persist_result=False)
def sync_all(scheduled_label: str = "cycle", via_deployment: str | None = None) -> State:
    """Sync every provider whose sync engine is enabled.

    Args:
        scheduled_label: A label for the run's name.
        via_deployment: Run each provider as a run of this deployment (e.g.
            "sync-provider/fan-out"), so a work pool's workers share the cycle; by default
            providers run one after another as subflows of this run.
    """
    log = get_run_logger()
    providers = enabled_providers()
    if not providers:
        log.info("No provider has the sync engine enabled; nothing to do.")
        return Completed(message="No provider has the sync engine enabled.")
    if via_deployment:
        futures = {
            name: run_provider_deployment.submit(via_deployment, name, LOCK_TTL)
            for name in providers
        }
        states = {name: future.result().state for name, future in futures.items()}
    else:
        states = {name: sync_provider(provider=name, return_state=True) for name in providers}
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
    result = validate_service(service_config_named(service))
    data = {"service": service, "ok": result.ok, "message": result.message, "hint": result.hint}
    if result.ok:
        return Completed(message=result.message, data=data)
    return Failed(message=f"{result.message} {result.hint or ''}".strip(), data=data)


__all__ = ["sync_all", "sync_provider", "sync_trainer", "verify_service"]
