"""`trainer-sync sync | status | history | validate`: run and watch the sync."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from connectors.platform import configuration
from connectors.platform.state import change_history, last_results, save_access
from sync_rules.errors import ConfigurationError
from trainer_sync.cli.context import store
from trainer_sync.cli.output import console, print_json, print_table
from trainer_sync.cli.runtime import prepare_engine

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
    "error",
]
#: Show a progress bar only for runs at least this big (small runs finish before it draws).
PROGRESS_FROM_TRAINERS = 50


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    from tasks import progress as run_progress

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"{stage} trainers", total=total)
            bar.advance(tasks[stage], done)

        stop = run_progress.listen(update)
        try:
            yield
        finally:
            stop()


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
) -> None:
    """Run the sync now, in this process, and print what changed where."""
    prepare_engine()
    from flows.sync import sync_provider
    from tasks.providers import enabled_providers

    if trainer and not provider:
        provider = _providers_of(trainer)
    if provider:
        with store() as session:
            configuration.get_provider(session, provider)
        names = [provider]
    else:
        names = enabled_providers()
        if not names:
            console.print("No provider has the sync engine enabled; nothing to do.")
            return
    with store() as session:
        linked = sum(
            len(configuration.list_trainers(session, configuration.get_provider(session, n)))
            for n in names
        )
    results: list[dict[str, Any]] = []
    failed = False
    with _progress_bar(not as_json and console.is_terminal and linked >= PROGRESS_FROM_TRAINERS):
        for name in names:
            state = sync_provider(
                provider=name,
                trainers=trainer or None,
                dry_run=dry_run,
                allow_mass_delete=allow_mass_delete,
                return_state=True,
            )
            records = state.result(raise_on_failure=False)
            if not isinstance(records, list):  # the run itself failed before any trainer
                raise ConfigurationError(
                    f"The sync of {name} failed: {state.message}", _hint(records)
                )
            results += [{"provider": name, **r} for r in records]
            failed = failed or not state.is_completed()
            if not as_json:
                console.print(state.message or "")
    if as_json:
        print_json(results)
    else:
        title = "Planned changes (dry run: nothing written)" if dry_run else "Sync results"
        print_table(title, ["provider", *RESULT_COLUMNS], results)
    if failed:
        raise typer.Exit(1)


def _hint(result: object) -> str:
    hint = getattr(result, "hint", None)
    return hint or "See the Prefect run's logs for details."


def status(
    provider: str | None = typer.Option(None, help="Only this provider."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Each linked trainer's last sync result."""
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
            "finished_at",
            "counts",
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
    limit: int = typer.Option(50, help="How many changes, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Changes the sync made, with their reasons and Prefect flow runs."""
    with store() as session:
        who = configuration.find_trainer(session, trainer) if trainer else None
        rows = change_history(session, who, limit)
    if as_json:
        print_json(rows)
        return
    print_table(
        "Sync changes",
        ["at", "trainer", "side", "action", "reason", "outcome", "summary", "flow_run_id"],
        rows,
    )


def validate(
    provider: str | None = typer.Option(None, help="Only this provider's trainers."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check the master account's rights on every linked trainer's calendar."""
    prepare_engine()
    from connectors.platform.models import utcnow
    from tasks.runtime import connector_for, service_config

    with store() as session:
        scope = configuration.get_provider(session, provider) if provider else None
        trainers = [t for t in configuration.list_trainers(session, scope) if t.link]
        checks = [(t, t.link, service_config(t.link.service)) for t in trainers if t.link]

    def check(entry: tuple[Any, Any, Any]) -> dict[str, Any]:
        trainer, link, config = entry
        try:
            result = connector_for(config).check_access(link.mailbox, link.direction)
            ok, problem = result.ok, " ".join(p.message for p in result.problems)
        except ConfigurationError as exc:  # e.g. the service's secret is missing
            ok, problem = False, str(exc)
        return {
            "trainer": trainer.email,
            "mailbox": link.mailbox,
            "service": config.name,
            "direction": link.direction,
            "ok": ok,
            "problem": problem,
        }

    # Checks are independent: run them side by side, within what a service allows.
    workers = max([c[2].max_connections for c in checks], default=1)
    with ThreadPoolExecutor(workers, thread_name_prefix="validate") as pool:
        rows = list(pool.map(check, checks))
    with store() as session:
        for trainer, row in zip([c[0] for c in checks], rows, strict=True):
            save_access(
                session, trainer.id, row["direction"], row["ok"], row["problem"] or None, utcnow()
            )
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
