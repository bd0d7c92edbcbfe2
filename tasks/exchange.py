"""Exchange-side tasks: verify a service, extract mailboxes (change-gated), load writes.

A task handles a chunk of trainers (`runtime.TRAINERS_PER_TASK`) on a small thread pool;
each trainer's failure is caught and reported on its own, so one trainer never stops the
others. The connector itself retries transient errors and honours server back-off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run

from connectors.exchange.base import (
    AccessResult,
    ActionResult,
    ExchangeAction,
    VerificationResult,
    engine_writes_from,
)
from connectors.exchange.config import ServiceConfig
from connectors.platform import configuration
from connectors.platform.models import utcnow
from connectors.platform.state import save_links
from sync_rules.credentials import expiry_notice
from sync_rules.errors import TrainerSyncError
from sync_rules.frames import EXCHANGE_COLUMNS, split_list
from sync_rules.gate import read_valid_until
from sync_rules.text import plural
from tasks.context import ProviderRun, TrainerInfo
from tasks.events import (
    CREDENTIAL_EXPIRING,
    SERVICE_VERIFICATION_FAILED,
    emit,
    service_resource,
)
from tasks.resources import Resources
from tasks.runtime import run_logger

#: A successful permission check is trusted this long; a failed one is re-checked every run.
ACCESS_RECHECK = timedelta(hours=24)


#: Where a trainer stands in a run: `idle` (nothing changed on either side: one request),
#: `read` (its mailbox was read, so it is planned), `disabled` (calendar off, mirrors kept),
#: `planned` (a dry run planned its changes and wrote nothing), `synced` or `failed`.
TrainerStatus = Literal["idle", "read", "disabled", "planned", "synced", "failed"]


class WriteReport(TypedDict):
    """What became of one Exchange write, for the run's history."""

    entry_key: str
    item_id: str | None
    action: str
    ok: bool
    error: str | None


@dataclass(frozen=True)
class TrainerOutcome:
    """What happened to one trainer in this run, stage by stage."""

    trainer: TrainerInfo
    status: TrainerStatus
    error: str | None = None
    cursor: str | None = None  # the mailbox cursor taken before reading
    access: AccessResult | None = None  # set when the permission check ran this time
    cursor_to_store: str | None = None
    read_valid_until: datetime | None = None  # set when the mailbox was read this time
    write_results: tuple[WriteReport, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass(frozen=True)
class Extraction:
    """A chunk's outcomes, and the calendar items of the trainers it read (exchange frame)."""

    outcomes: list[TrainerOutcome]
    items: pd.DataFrame


def read_trainer_ids(extractions: Sequence[Extraction]) -> set[int]:
    """The trainers whose mailbox the run read (the others take no part in planning)."""
    return {o.trainer.trainer_id for e in extractions for o in e.outcomes if o.status == "read"}


def exchange_frame(extractions: Sequence[Extraction]) -> pd.DataFrame:
    """The calendar items of every chunk, as one exchange frame."""
    read = [e.items for e in extractions if not e.items.empty]
    if not read:
        return pd.DataFrame(columns=list(EXCHANGE_COLUMNS))
    return pd.concat(read, ignore_index=True)


def _chunk_run_name(stage: str) -> Callable[[], str]:
    """Task-run names that say which provider a chunk is of and how many trainers it holds
    (not who: a chunk named after its first trainer read as that trainer's failure when
    another failed; each failed trainer has a `failed-<email>` task run of its own)."""

    def name() -> str:
        params = task_run.parameters
        run, members = params["run"], params.get("trainers") or params.get("outcomes") or []
        return f"{stage}-{run.provider}-{plural(len(members), 'trainer')}".replace(" ", "-")

    return name


def _pool_size(run: ProviderRun, chunk: Sequence[Any]) -> int:
    return max(
        1, min(len(chunk), max((s.max_connections for s in run.services.values()), default=1))
    )


# --- verification ------------------------------------------------------------------------------


@task(name="validate-service", cache_policy=NO_CACHE, timeout_seconds=120)
def validate_service(resources: Resources, config: ServiceConfig) -> VerificationResult:
    """Check the master account's credentials and endpoint ("Save verifies"); record it.

    Every failure, a secret that cannot be resolved included, becomes a failed result that
    names the service: its trainers fail with it, the provider's other services go on.
    """
    log = run_logger()
    try:
        result = resources.connector(config).verify_service()
    except TrainerSyncError as exc:
        result = VerificationResult(False, config.name, exc.message, exc.hint, type(exc).__name__)
    except Exception as exc:  # unexpected: a bug, reported on the service, not a lost run
        log.exception("Unexpected error verifying service %s", config.name)
        result = VerificationResult(False, config.name, f"unexpected error: {exc!r}")
    with resources.store() as session:
        service = configuration.get_service(session, config.name)
        provider = service.provider.name
        expiry = expiry_notice(
            config.name, config.backend, service.secret_expires_on, resources.clock().date()
        )
        message = result.message + (f" {result.hint}" if result.hint and not result.ok else "")
        configuration.record_verification(session, service, result.ok, message, utcnow())
    if result.ok:
        log.info("Service %s verified (%s)", config.name, result.message)
    else:
        log.error(
            "Service %s failed verification: %s %s", config.name, result.message, result.hint or ""
        )
        emit(
            SERVICE_VERIFICATION_FAILED,
            service_resource(provider, config.name),
            f"Service {config.name} ({provider}) failed verification, so its trainers are not "
            f"synced: {message}",
            provider,
            error=result.error,
        )
    if expiry is not None:
        log.warning(expiry)
        emit(CREDENTIAL_EXPIRING, service_resource(provider, config.name), expiry, provider)
    return result


def _access_due(trainer: TrainerInfo, now: datetime) -> bool:
    return (
        not trainer.access_ok
        or trainer.access_direction != trainer.direction
        or trainer.access_checked_at is None
        or now - trainer.access_checked_at > ACCESS_RECHECK
    )


# --- extraction --------------------------------------------------------------------------------


def _extract_one(
    resources: Resources, run: ProviderRun, trainer: TrainerInfo, fingerprint: str
) -> tuple[TrainerOutcome, list[dict[str, Any]]]:
    if not trainer.calendar_enabled and run.rules.on_direction_off == "keep":
        return TrainerOutcome(trainer, "disabled"), []
    access = None
    try:
        connector = resources.connector(run.services[trainer.service])
        if _access_due(trainer, run.now):
            access = connector.check_access(trainer.mailbox, trainer.direction)
            if not access.ok:
                message = " ".join(p.message for p in access.problems)
                return TrainerOutcome(trainer, "failed", error=message, access=access), []
        check = connector.changed_since(trainer.mailbox, trainer.exchange_cursor, window=run.window)
        complete = trainer.read_valid_until is not None and run.now < trainer.read_valid_until
        if not check.changed and fingerprint == trainer.platform_fingerprint and complete:
            outcome = TrainerOutcome(
                trainer, "idle", cursor=check.cursor, access=access, cursor_to_store=check.cursor
            )
            return outcome, []
        start, end = run.window
        rows = connector.read_window(trainer.mailbox, *run.read_span)
        valid_until = read_valid_until((r.start for r in rows), run.now, end)
        # Only the window is planned; what lies ahead of it only says when to read again.
        items = [{"trainer_id": trainer.trainer_id, **r.as_dict()} for r in rows if r.start < end]
        outcome = TrainerOutcome(
            trainer, "read", cursor=check.cursor, access=access, read_valid_until=valid_until
        )
        return outcome, items
    except TrainerSyncError as exc:
        return TrainerOutcome(trainer, "failed", error=str(exc), access=access), []
    except Exception as exc:  # unexpected: report it on this trainer, keep the others going
        run_logger().exception("Unexpected error reading %s", trainer.mailbox)
        error = f"unexpected error: {exc!r}"
        return TrainerOutcome(trainer, "failed", error=error, access=access), []


# No task timeout and no retries on the two chunk tasks: they run in worker threads, where
# Prefect cannot interrupt them, the connector's connect/read timeouts bound every request,
# and every trainer's failure is caught and reported on that trainer (so there is nothing
# left for a retry of the whole chunk to catch).
@task(
    name="extract-exchange",
    task_run_name=_chunk_run_name("extract-exchange"),
    cache_policy=NO_CACHE,
)
def extract_exchange(
    resources: Resources,
    run: ProviderRun,
    trainers: list[TrainerInfo],
    fingerprints: dict[int, str],
) -> Extraction:
    """Check each trainer's access (when due) and mailbox; read the window of changed ones.

    An idle trainer (mailbox unchanged, platform fingerprint unchanged) costs one request.
    """

    def extract(trainer: TrainerInfo) -> tuple[TrainerOutcome, list[dict[str, Any]]]:
        return _extract_one(resources, run, trainer, fingerprints.get(trainer.trainer_id, ""))

    with ThreadPoolExecutor(_pool_size(run, trainers), thread_name_prefix="extract") as pool:
        results = list(pool.map(extract, trainers))
    outcomes = [outcome for outcome, _ in results]
    items = pd.DataFrame(
        [row for _, rows in results for row in rows], columns=list(EXCHANGE_COLUMNS)
    )
    resources.observer.progress("extract", len(outcomes), len(run.trainers))
    _warn_failures(outcomes)
    return Extraction(outcomes, items)


def _warn_failures(outcomes: Sequence[TrainerOutcome]) -> None:
    log = run_logger()
    for o in outcomes:
        if o.failed and o.error:
            log.warning("%s: %s", o.trainer.email, o.error)


# --- loading -----------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def to_action(row: Any, run: ProviderRun) -> ExchangeAction:
    """A plan row (exchange side) as the connector's action."""
    common = {
        "action": row.action,
        "entry_key": _text(row.entry_key) or "",
        "item_id": _text(row.item_id),
        "change_key": _text(row.change_key),
        "timezone": run.rules.timezone,
        "delete_mode": run.rules.delete_mode,
    }
    if row.action == "delete":
        return ExchangeAction(**common)
    return ExchangeAction(
        **common,
        subject=_text(row.subject) or "",
        body=_text(row.body) or "",
        location=_text(row.location) or "",
        start=row.start.to_pydatetime(),
        end=row.end.to_pydatetime(),
        all_day=bool(row.all_day),
        show_as=_text(row.show_as) or "Busy",
        categories=tuple(split_list(row.categories)),
        reminder_minutes=None if pd.isna(row.reminder_minutes) else int(row.reminder_minutes),
        content_hash=_text(row.content_hash) or "",
        changed_fields=tuple(split_list(row.changed_fields)),
    )


def _succeeded(action: ExchangeAction, result: ActionResult) -> bool:
    # Deleting an item that is already gone has the effect that was wanted.
    return result.ok or (action.action == "delete" and result.error == "ItemNotFound")


def _adopt(resources: Resources, trainer_id: int, adopt: pd.DataFrame) -> None:
    if not adopt.empty:
        with resources.store() as session:
            save_links(session, trainer_id, adopt.assign(action="adopt").to_dict("records"))


def _load_one(
    resources: Resources,
    run: ProviderRun,
    outcome: TrainerOutcome,
    rows: pd.DataFrame,
    adopt: pd.DataFrame,
) -> TrainerOutcome:
    if outcome.status != "read":
        return outcome
    try:
        return _write_one(resources, run, outcome, rows, adopt)
    except TrainerSyncError as exc:
        return replace(outcome, status="failed", error=str(exc))
    except Exception as exc:  # unexpected: report it on this trainer, keep the others going
        run_logger().exception("Unexpected error writing to %s", outcome.trainer.mailbox)
        return replace(outcome, status="failed", error=f"unexpected error: {exc!r}")


def _write_one(
    resources: Resources,
    run: ProviderRun,
    outcome: TrainerOutcome,
    rows: pd.DataFrame,
    adopt: pd.DataFrame,
) -> TrainerOutcome:
    trainer = outcome.trainer
    _adopt(resources, trainer.trainer_id, adopt)
    if rows.empty:
        return replace(outcome, status="synced", cursor_to_store=outcome.cursor)
    connector = resources.connector(run.services[trainer.service])
    actions = [to_action(row, run) for row in rows.itertuples(index=False)]
    results = connector.apply(trainer.mailbox, actions)
    written: list[dict[str, Any]] = []
    reports: list[WriteReport] = []
    failures: list[str] = []
    for action, result in zip(actions, results, strict=True):
        ok = _succeeded(action, result)
        reports.append(
            {
                "entry_key": action.entry_key,
                "item_id": result.item_id or action.item_id,
                "action": action.action,
                "ok": ok,
                "error": result.message,
            }
        )
        if ok:
            written.append(
                {
                    "entry_key": action.entry_key,
                    "action": action.action,
                    "item_id": result.item_id or action.item_id,
                    "change_key": result.change_key,
                    "content_hash": action.content_hash,
                }
            )
        else:
            failures.append(f"{action.action} {action.entry_key}: {result.message or result.error}")
    with resources.store() as session:
        save_links(session, trainer.trainer_id, written)
    cursor = outcome.cursor
    try:
        # Step the cursor past the engine's own writes, unless the trainer changed something
        # meanwhile: then keep the old cursor so the next cycle looks again.
        after = connector.changed_since(
            trainer.mailbox, outcome.cursor, engine_writes_from(actions, results), run.window
        )
        cursor = outcome.cursor if after.changed else after.cursor
    except TrainerSyncError:
        cursor = None  # unknown state: read in full next time
    if failures:
        error = f"{len(failures)} of {len(actions)} Exchange writes failed: " + "; ".join(
            failures[:3]
        )
        return replace(
            outcome,
            status="failed",
            error=error,
            write_results=tuple(reports),
            cursor_to_store=cursor,
        )
    return replace(outcome, status="synced", write_results=tuple(reports), cursor_to_store=cursor)


@task(name="load-exchange", task_run_name=_chunk_run_name("load-exchange"), cache_policy=NO_CACHE)
def load_exchange(
    resources: Resources,
    run: ProviderRun,
    outcomes: list[TrainerOutcome],
    plan: pd.DataFrame,
    adopt: pd.DataFrame,
) -> list[TrainerOutcome]:
    """Apply each trainer's unheld Exchange actions, 100 per request, results per item, and
    record tagged items the links had lost track of.

    Not retried as a whole: a repeated create would duplicate items; the connector already
    retries what is safe to retry, and the next cycle repairs the rest.
    """
    todo = plan[(plan["side"] == "exchange") & ~plan["held"].astype(bool)]
    by_trainer = {tid: rows for tid, rows in todo.groupby("trainer_id")}
    adopt_by_trainer = {tid: rows for tid, rows in adopt.groupby("trainer_id")}
    empty, none_to_adopt = todo.iloc[0:0], adopt.iloc[0:0]

    def load(o: TrainerOutcome) -> TrainerOutcome:
        tid = o.trainer.trainer_id
        return _load_one(
            resources, run, o, by_trainer.get(tid, empty), adopt_by_trainer.get(tid, none_to_adopt)
        )

    with ThreadPoolExecutor(_pool_size(run, outcomes), thread_name_prefix="load") as pool:
        loaded = list(pool.map(load, outcomes))
    resources.observer.progress("load", len(loaded), len(run.trainers))
    # Only the trainers this step failed: the others' failures were logged when they happened,
    # and a warning says each once a run.
    _warn_failures(
        [after for before, after in zip(outcomes, loaded, strict=True) if not before.failed]
    )
    return loaded
