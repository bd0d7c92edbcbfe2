"""One sync cycle of a provider: which tasks run, in what order, on which chunks of trainers.

The flows run it with every step a Prefect task run (`PrefectSteps`: chunks side by side on the
flow's task runner, each visible in the UI). The same cycle runs without Prefect's
orchestration (`DirectSteps`: the tasks' functions, called in turn) where a test needs many
cycles quickly and nothing of the orchestration is under test: the code of every step is
the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from prefect import Task

from sync_rules.errors import TrainerSyncError
from sync_rules.text import plural
from tasks.announce import announce_run
from tasks.clashes import find_run_clashes
from tasks.context import load_provider
from tasks.exchange import TrainerOutcome, extract_exchange, load_exchange, validate_service
from tasks.health import failed_trainer_calls, flag_failed_trainer
from tasks.history import record_history, totals
from tasks.locks import holder_for, provider_lock
from tasks.plan import plan_provider
from tasks.platform import extract_platform, load_platform
from tasks.resources import Resources
from tasks.runtime import chunks, run_logger

T = TypeVar("T")


class Steps(Protocol):
    """How the cycle's steps are carried out."""

    def one(self, task: Task[..., T], *args: Any) -> T:
        """Run one step and return its result."""
        ...

    def start(self, task: Task[..., T], calls: Sequence[tuple[Any, ...]]) -> Callable[[], list[T]]:
        """Start one step per argument tuple; the returned function waits for their results."""
        ...

    def flag(self, task: Task[..., Any], calls: Sequence[tuple[Any, ...]]) -> None:
        """Run steps that end Failed on purpose, to show a failure; wait for them."""
        ...


class PrefectSteps:
    """Every step a Prefect task run of the current flow run; chunks run side by side."""

    def one(self, task: Task[..., T], *args: Any) -> T:
        return task(*args)

    def start(self, task: Task[..., T], calls: Sequence[tuple[Any, ...]]) -> Callable[[], list[T]]:
        futures = [task.submit(*call) for call in calls]
        return lambda: [future.result() for future in futures]

    def flag(self, task: Task[..., Any], calls: Sequence[tuple[Any, ...]]) -> None:
        for future in [task.submit(*call) for call in calls]:
            future.wait()  # its Failed state is the point: nothing to raise


class DirectSteps:
    """Every step the task's own function, called in this thread, one after the other."""

    def one(self, task: Task[..., T], *args: Any) -> T:
        return task.fn(*args)

    def start(self, task: Task[..., T], calls: Sequence[tuple[Any, ...]]) -> Callable[[], list[T]]:
        results = [task.fn(*call) for call in calls]
        return lambda: results

    def flag(self, task: Task[..., Any], calls: Sequence[tuple[Any, ...]]) -> None:
        pass  # no run to show a failure on


@dataclass(frozen=True)
class CycleEnd:
    """How a cycle ended: its outcome, the message the run ends with, per-trainer records."""

    outcome: Literal["completed", "failed", "cancelled"]
    message: str
    records: list[dict[str, Any]]


def sync_cycle(
    resources: Resources,
    provider: str,
    trainers: list[str] | None,
    dry_run: bool,
    allow_mass_delete: bool,
    steps: Steps,
    flow_run_id: str | None = None,
) -> CycleEnd:
    """Sync a provider (or some of its trainers) once; see docs/architecture.md §The sync cycle."""
    log = run_logger()
    started = resources.clock()
    try:
        run = steps.one(
            load_provider, resources, provider, trainers, started, dry_run, allow_mass_delete
        )
    except TrainerSyncError as exc:  # e.g. an unknown provider or trainer: say so, and stop
        log.error(str(exc))
        return CycleEnd("failed", str(exc), [])
    holder = holder_for(flow_run_id)
    back_offs_before = resources.back_offs()
    with provider_lock(resources, run.provider, run.provider_id, holder, skip=dry_run) as refusal:
        if refusal is not None:
            log.warning(refusal.message)
            return CycleEnd("cancelled", refusal.message, [])

        # A service that cannot be used fails its own trainers, with its reason; the
        # provider's other services and trainers go on.
        failed_services = dict(run.broken_services)
        for name in run.services_to_verify:
            result = steps.one(validate_service, resources, run.services[name])
            if not result.ok:
                failed_services[name] = f"{result.message} {result.hint or ''}".strip()
        usable = [t for t in run.trainers if t.service not in failed_services]
        skipped = [
            TrainerOutcome(t, "failed", error=f"Service {t.service}: {failed_services[t.service]}")
            for t in run.trainers
            if t.service in failed_services
        ]

        platform, fingerprints = steps.one(extract_platform, resources, run)
        extracted = steps.start(
            extract_exchange, [(resources, run, chunk, fingerprints) for chunk in chunks(usable)]
        )
        extractions = extracted()
        outcomes = [o for e in extractions for o in e.outcomes]
        plan, adopt = steps.one(plan_provider, resources, run, platform, extractions)
        clashes = steps.one(find_run_clashes, run, platform, extractions)
        del extractions, extracted  # the mailboxes' contents are planned: let them go

        if not dry_run:
            loaded = steps.start(
                load_exchange, [(resources, run, chunk, plan, adopt) for chunk in chunks(outcomes)]
            )
            read_ids = [o.trainer.trainer_id for o in outcomes if o.status == "read"]
            fingerprints = steps.one(load_platform, resources, run, plan, platform, read_ids)
            outcomes = [o for chunk in loaded() for o in chunk]

        records = steps.one(
            record_history,
            resources,
            run,
            outcomes + skipped,
            plan,
            fingerprints,
            clashes,
            flow_run_id,
        )

    steps.flag(flag_failed_trainer, failed_trainer_calls(run.provider, records))
    if not dry_run:
        by_service = {t.email for t in run.trainers if t.service in failed_services}
        back_offs = resources.back_offs() - back_offs_before
        announce_run(run.provider, records, run.rules.alerts, back_offs, by_service)
    resources.observer.finished(run.provider, records)
    failures = [r for r in records if r["status"] == "failed"]
    summary = _summary(run.provider, records, dry_run)
    if failures:
        names = ", ".join(r["trainer"] for r in failures[:5])
        message = (
            f"{len(failures)} of {plural(len(records), 'trainer')} failed ({names}). {summary}"
        )
        log.error(message)
        return CycleEnd("failed", message, records)
    log.info(summary)
    return CycleEnd("completed", summary, records)


def _summary(provider: str, records: list[dict[str, Any]], dry_run: bool) -> str:
    total = totals(records)
    verb = "would change" if dry_run else "changed"
    return (
        f"{provider}: {plural(len(records), 'trainer')}; {verb} Exchange "
        f"+{total['exchange_created']} ~{total['exchange_updated']} -{total['exchange_deleted']}, "
        f"platform +{total['platform_created']} ~{total['platform_updated']} "
        f"-{total['platform_deleted']}; held {total['exchange_held'] + total['platform_held']}."
    )
