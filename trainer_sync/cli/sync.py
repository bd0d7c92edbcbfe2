"""`trainer-sync sync | status | history | validate`: run and watch the sync."""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from connectors.exchange.config import ServiceConfig
from connectors.platform import configuration
from connectors.platform.models import MAX_ROW_ID, Trainer
from connectors.platform.state import change_history, last_results, save_access
from sync_rules.errors import ConfigurationError, TrainerSyncError
from sync_rules.render import fit
from sync_rules.text import plural
from tasks.resources import Recorder, Resources, using
from trainer_sync.cli.context import store
from trainer_sync.cli.output import console, print_error, print_json, print_table
from trainer_sync.cli.runtime import cli_resources, prefect_console

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State

RESULT_COLUMNS = [
    "trainer",
    "direction",
    "status",
    "exchange_created",
    "exchange_updated",
    "exchange_deleted",
    "exchange_held",
    "platform_created",
    "platform_updated",
    "platform_deleted",
    "platform_held",
]
CHANGE_COLUMNS = ["trainer", "side", "action", "item", "reason", "outcome"]
#: Show a progress bar only for runs at least this big (small runs finish before it draws).
PROGRESS_FROM_TRAINERS = 50


class _Watcher(Recorder):
    """Keeps each provider's per-trainer results and, for big runs on a terminal, draws a
    progress bar (small runs finish before it would draw)."""

    def __init__(self, bar: Progress | None) -> None:
        super().__init__()
        self._bar = bar
        self._stages: dict[str, TaskID] = {}

    def progress(self, stage: str, done: int, total: int) -> None:
        if self._bar is None:
            return
        if stage not in self._stages:
            self._stages[stage] = self._bar.add_task(f"{stage} trainers", total=total)
        self._bar.advance(self._stages[stage], done)


@contextmanager
def _watcher(show_progress: bool) -> Iterator[_Watcher]:
    if not show_progress:
        yield _Watcher(None)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
        yield _Watcher(bar)


def _providers_of(trainers: list[str]) -> str:
    with store() as session:
        found = {configuration.find_trainer(session, email).provider.name for email in trainers}
    if len(found) != 1:
        raise ConfigurationError(
            "The trainers given belong to several providers.", "Sync one provider at a time."
        )
    return found.pop()


def sync(
    provider: str | None = typer.Option(None, help="Provider to sync (default: all enabled)."),
    trainer: list[str] = typer.Option([], "--trainer", help="Only this trainer (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan and report; write nothing."),
    allow_mass_delete: bool = typer.Option(
        False, "--allow-mass-delete", help="Apply plans the mass-deletion guard would hold."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show Prefect's own log lines as the run goes."
    ),
) -> None:
    """Run the sync now, in this process, and print each change, where and why."""
    if trainer and not provider:
        provider = _providers_of(trainer)
    with store() as session:
        if provider:
            configuration.get_provider(session, provider)
            names = [provider]
        else:
            names = [p.name for p in configuration.list_providers(session) if p.sync_engine_enabled]
        linked = sum(
            len(configuration.list_trainers(session, configuration.get_provider(session, n)))
            for n in names
        )
    if not names:
        console.print("No provider has the sync engine enabled; nothing to do.")
        return
    big = not as_json and console.is_terminal and linked >= PROGRESS_FROM_TRAINERS
    results: list[dict[str, Any]] = []
    summaries: list[str] = []
    failed = False
    with (
        prefect_console(verbose),
        _watcher(big) as watcher,
        cli_resources(watcher) as resources,
        using(resources),
    ):
        from flows.sync import sync_provider

        for name in names:
            state = sync_provider(
                provider=name,
                trainers=trainer or None,
                dry_run=dry_run,
                allow_mass_delete=allow_mass_delete,
                return_state=True,
            )
            records = watcher.records.get(name)
            if records is None:  # the run itself failed before any trainer
                raise ConfigurationError(
                    f"The sync of {name} failed: {state.message}", _hint(state)
                )
            results += [{"provider": name, **r} for r in records]
            failed = failed or not state.is_completed()
            summaries.append(state.message or "")
    if as_json:
        print_json(results)
    else:
        _print_results(results, summaries, dry_run)
    if failed:
        _report_failures(results)
        raise typer.Exit(1)


def _report_failures(results: list[dict[str, Any]]) -> None:
    """Each distinct reason trainers failed for, once, with the trainers it failed: a service
    whose secret is missing fails all its trainers with the same message."""
    by_reason: dict[str, list[str]] = {}
    for row in results:
        if row.get("status") == "failed" and row.get("error"):
            by_reason.setdefault(str(row["error"]), []).append(str(row["trainer"]))
    for reason, trainers in by_reason.items():
        message, _, hint = reason.partition(" — ")  # how TrainerSyncError joins the two
        count = plural(len(trainers), "trainer")
        failed = f"{message.rstrip('.')}. ({count} failed: {', '.join(trainers)})"
        print_error(TrainerSyncError(failed, hint or None))


def _print_results(results: list[dict[str, Any]], summaries: list[str], dry_run: bool) -> None:
    """Each change (trainer, item, action, reason), the counts per trainer, and what to run
    for a mass deletion the guard held (the errors follow, once each: `_report_failures`)."""
    changes = [
        {
            "trainer": r["trainer"],
            "side": c["side"],
            "action": c["action"],
            "item": c.get("summary") or c.get("entry_key") or c.get("item_id"),
            "reason": c["reason"],
            "outcome": c["outcome"],
        }
        for r in results
        for c in r.get("changes", [])
    ]
    if changes:
        title = "Planned changes (dry run: nothing written)" if dry_run else "Changes"
        print_table(title, CHANGE_COLUMNS, changes)
    else:
        console.print("No changes.")
    title = "Sync results (dry run: nothing written)" if dry_run else "Sync results"
    print_table(title, ["provider", *RESULT_COLUMNS], results)
    for provider in dict.fromkeys(r["provider"] for r in results if r["status"] == "held"):
        held = sum(
            r["exchange_held"] + r["platform_held"] for r in results if r["provider"] == provider
        )
        console.print(
            f"Held: {held} change(s) of {provider}, a mass deletion the guard stopped; none of "
            "them was written. Check them above, then apply them with: trainer-sync sync "
            f"--provider {shlex.quote(provider)} --allow-mass-delete",
            markup=False,
            highlight=False,
        )
    for summary in summaries:
        console.print(summary, markup=False, highlight=False)


def _hint(state: State) -> str:
    error = state.result(raise_on_failure=False) if state.is_failed() else None
    hint = getattr(error, "hint", None)
    if hint:
        return str(hint)
    if state.is_cancelled():
        return "Nothing was written; run it again once the other run has finished."
    return "See the Prefect run's logs for details."


def status(
    provider: str | None = typer.Option(None, help="Only this provider."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Each linked trainer's health: its last sync, failures in a row, last success."""
    with store() as session:
        scope = configuration.get_provider(session, provider) if provider else None
        rows = last_results(session, scope)
    if as_json:
        print_json(rows)
        return
    shown = [{**r, "counts": _counts(r["counts"])} for r in rows]
    print_table(
        "Last sync per trainer",
        [
            "provider",
            "trainer",
            "direction",
            "calendar",
            "status",
            "failures_in_a_row",
            "last_success",
            "finished_at",
            "counts",
            "clashes",
            "error",
        ],
        shown,
    )


def _counts(counts: dict[str, Any] | None) -> str:
    if not counts:
        return ""
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items() if v)


def history(
    trainer: str | None = typer.Option(None, help="Only this trainer's changes."),
    provider: str | None = typer.Option(
        None, help="The trainer's provider, when its email is in several."
    ),
    limit: int | None = typer.Option(
        None, help="How many changes, newest first (default 50; all of them with --run)."
    ),
    run: str | None = typer.Option(
        None,
        "--run",
        help="Only the changes of this Prefect flow run (its id, as a run's changes list ends).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Changes the sync made, with their reasons and Prefect flow runs."""
    if limit is not None and limit < 1:
        raise ConfigurationError(
            f"--limit must be 1 or more, not {limit}.",
            "Give how many of the newest changes to show (default 50).",
        )
    flow_run_id = _flow_run_id(run) if run is not None else None
    if limit is None:
        limit = MAX_ROW_ID if flow_run_id else 50
    with store() as session:
        who = configuration.find_trainer(session, trainer, provider) if trainer else None
        # More than the store can count is all of them.
        rows = change_history(session, who, min(limit, MAX_ROW_ID), flow_run_id)
    if as_json:
        print_json(rows)
        return
    print_table(
        "Sync changes",
        ["at", "trainer", "side", "action", "reason", "outcome", "summary", "flow_run_id"],
        rows,
    )


def _flow_run_id(value: str) -> str:
    """A Prefect flow run id as the history stores it (a UUID, lower case)."""
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise ConfigurationError(
            f"--run takes a Prefect flow run id, such as "
            f"0f8c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5, not {fit(value, 60)!r}.",
            "Copy it from the run's page in the Prefect UI or from the end of its list of changes.",
        ) from None


@dataclass(frozen=True)
class _AccessCheck:
    """One trainer's permission check: its mailbox, direction and service."""

    trainer: str
    trainer_id: int
    mailbox: str
    direction: str
    service: str
    config: ServiceConfig | None
    refused: str = ""  # why the stored service cannot be used, when it cannot

    @classmethod
    def of(cls, trainer: Trainer) -> _AccessCheck:
        link = trainer.link
        assert link is not None
        config, refused = None, ""
        try:
            config = configuration.service_config(link.service)
        except TrainerSyncError as exc:  # a stored service the connector refuses
            refused = str(exc)
        return cls(
            trainer.email,
            trainer.id,
            link.mailbox,
            link.direction,
            link.service.name,
            config,
            refused,
        )

    @property
    def max_connections(self) -> int:
        return self.config.max_connections if self.config else 1

    def run(self, resources: Resources) -> dict[str, Any]:
        ok, problem = False, self.refused
        if self.config is not None:
            try:
                result = resources.connector(self.config).check_access(self.mailbox, self.direction)
                ok, problem = result.ok, " ".join(p.message for p in result.problems)
            except TrainerSyncError as exc:  # e.g. the service's secret is missing
                problem = str(exc)
        return {
            "trainer": self.trainer,
            "mailbox": self.mailbox,
            "service": self.service,
            "direction": self.direction,
            "ok": ok,
            "problem": problem,
        }


def validate(
    provider: str | None = typer.Option(None, help="Only this provider's trainers."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check the master account's rights on every linked trainer's calendar."""
    from connectors.platform.models import utcnow

    with store() as session:
        scope = configuration.get_provider(session, provider) if provider else None
        checks = [_AccessCheck.of(t) for t in configuration.list_trainers(session, scope) if t.link]
    with cli_resources() as resources:
        # Checks are independent: run them side by side, within what a service allows.
        workers = max((c.max_connections for c in checks), default=1)
        with ThreadPoolExecutor(workers, thread_name_prefix="validate") as pool:
            rows = list(pool.map(lambda c: c.run(resources), checks))
    with store() as session:
        for check, row in zip(checks, rows, strict=True):
            problem = row["problem"] or None
            save_access(session, check.trainer_id, check.direction, row["ok"], problem, utcnow())
    if as_json:
        print_json(rows)
    else:
        print_table(
            "Permission check",
            ["trainer", "mailbox", "service", "direction", "ok", "problem"],
            rows,
        )
    if not all(r["ok"] for r in rows):
        raise typer.Exit(1)
