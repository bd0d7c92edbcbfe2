"""`trainer-sync trainer ...`: trainers and their Exchange links."""

from __future__ import annotations

from pathlib import Path

import typer

from connectors.platform import configuration
from connectors.platform.csv_import import import_trainers
from trainer_sync.cli.context import store
from trainer_sync.cli.output import console, print_json, print_table

app = typer.Typer(help="Trainers and their Exchange options.", no_args_is_help=True)

TRAINER_COLUMNS = ["provider", "name", "email", "service", "direction", "calendar", "mailbox"]


@app.command("add")
def add(
    provider: str = typer.Option(..., help="Provider name."),
    name: str = typer.Option(..., help="Trainer's name."),
    email: str = typer.Option(..., help="Trainer's email address."),
) -> None:
    """Add a trainer to a provider."""
    with store() as session:
        trainer = configuration.add_trainer(
            session, configuration.get_provider(session, provider), name, email
        )
    console.print(f"Added trainer {trainer.name} <{trainer.email}> to {provider!r}.")


@app.command("list")
def list_(
    provider: str | None = typer.Option(None, help="Only this provider's trainers."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List trainers with their links."""
    with store() as session:
        scope = configuration.get_provider(session, provider) if provider else None
        rows = [
            {
                "provider": t.provider.name,
                "name": t.name,
                "email": t.email,
                "service": t.link.service.name if t.link else None,
                "direction": t.link.direction if t.link else None,
                "calendar": t.link.calendar_enabled if t.link else None,
                "mailbox": t.link.mailbox if t.link else None,
            }
            for t in configuration.list_trainers(session, scope)
        ]
    if as_json:
        print_json(rows)
    else:
        print_table("Trainers", TRAINER_COLUMNS, rows)


@app.command("link")
def link(
    email: str = typer.Argument(..., help="The trainer's email."),
    service: str = typer.Option(..., help="Service (master account) name."),
    direction: str = typer.Option(..., help="in, out or both."),
    calendar: bool = typer.Option(True, "--calendar/--no-calendar", help="Sync the calendar."),
    mailbox: str | None = typer.Option(None, help="Mailbox, if not the trainer's email."),
) -> None:
    """Link a trainer to a service, with a direction."""
    with store() as session:
        svc = configuration.get_service(session, service)
        trainer = configuration.find_trainer(session, email, svc.provider)
        result = configuration.link_trainer(session, svc, trainer, direction, calendar, mailbox)
    state = "on" if result.calendar_enabled else "off"
    console.print(
        f"Linked {trainer.email} to {service!r}: direction {result.direction}, "
        f"calendar {state}, mailbox {result.mailbox}."
    )


@app.command("unlink")
def unlink(email: str = typer.Argument(..., help="The trainer's email.")) -> None:
    """Remove a trainer's Exchange link (its mirrors stay as they are)."""
    with store() as session:
        trainer = configuration.find_trainer(session, email)
        configuration.unlink_trainer(session, trainer)
    console.print(f"Unlinked {trainer.email}.")


@app.command("import")
def import_(path: Path = typer.Argument(..., help="CSV file.")) -> None:
    """Add or update trainers and their links from a UTF-8 CSV (all rows, or none).

    Columns: provider, name, email, service, direction, calendar.
    """
    with store() as session:
        counts = import_trainers(session, path)
    console.print(
        f"Imported {path}: {counts['created']} trainer(s) created, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged."
    )
