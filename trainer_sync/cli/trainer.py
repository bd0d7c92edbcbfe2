"""`trainer-sync trainer ...`: trainers and their Exchange links."""

from __future__ import annotations

from pathlib import Path

import typer

from connectors.platform import configuration, lifecycle
from connectors.platform.csv_import import import_trainers
from sync_rules.errors import ConfigurationError
from trainer_sync.cli.context import store
from trainer_sync.cli.output import console, print_fields, print_json, print_table

app = typer.Typer(help="Trainers and their Exchange options.", no_args_is_help=True)

PROVIDER_OPTION = typer.Option(
    None, "--provider", help="The trainer's provider, when the email is in several."
)

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
    provider: str | None = PROVIDER_OPTION,
) -> None:
    """Link a trainer to a service, with a direction (or move it to another service or mailbox).

    A move keeps the trainer's entries: the next sync writes them into the new mailbox under
    the same keys in the engine's tag, adopting items already tagged there.
    """
    with store() as session:
        svc = configuration.get_service(session, service)
        if provider is not None and configuration.get_provider(session, provider) != svc.provider:
            raise ConfigurationError(
                f"Service {svc.name!r} belongs to provider {svc.provider.name!r}, "
                f"not {provider!r}.",
                "Link the trainer to a service of its own provider; see "
                "`trainer-sync service list`.",
            )
        trainer = configuration.find_trainer(session, email, svc.provider)
        result = configuration.link_trainer(session, svc, trainer, direction, calendar, mailbox)
    state = "on" if result.calendar_enabled else "off"
    console.print(
        f"Linked {trainer.email} to {service!r}: direction {result.direction}, "
        f"calendar {state}, mailbox {result.mailbox}.",
        markup=False,
        highlight=False,
    )


@app.command("unlink")
def unlink(
    email: str = typer.Argument(..., help="The trainer's email."),
    provider: str | None = PROVIDER_OPTION,
) -> None:
    """Remove a trainer's Exchange link (its mirrors stay as they are)."""
    with store() as session:
        trainer = configuration.find_trainer(session, email, provider)
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


@app.command("show")
def show(
    email: str = typer.Argument(..., help="The trainer's email."),
    provider: str | None = PROVIDER_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a trainer: its link, its item links and its last sync."""
    from connectors.platform.state import last_results

    with store() as session:
        trainer = configuration.find_trainer(session, email, provider)
        link = trainer.link
        last = next(
            (r for r in last_results(session, trainer.provider) if r["trainer"] == trainer.email),
            None,
        )
        data = {
            "provider": trainer.provider.name,
            "name": trainer.name,
            "email": trainer.email,
            "service": link.service.name if link else None,
            "direction": link.direction if link else None,
            "calendar": link.calendar_enabled if link else None,
            "mailbox": link.mailbox if link else None,
            "items_in_outlook": lifecycle.item_link_count(session, trainer),
            "last_sync": last["status"] if last else None,
            "last_sync_finished_at": last["finished_at"] if last else None,
        }
    if as_json:
        print_json(data)
    else:
        print_fields(f"Trainer {data['name']} <{data['email']}>", data)


@app.command("set")
def set_(
    email: str = typer.Argument(..., help="The trainer's email."),
    provider: str | None = PROVIDER_OPTION,
    name: str | None = typer.Option(None, help="New name."),
    new_email: str | None = typer.Option(
        None, "--email", help="New email address (the mailbox stays; give --mailbox to move it)."
    ),
    mailbox: str | None = typer.Option(
        None, help="New mailbox of a linked trainer (its entries follow it)."
    ),
) -> None:
    """Change a trainer's name, email or mailbox.

    A new mailbox keeps the trainer's entries: the next sync writes them there under the same
    keys in the engine's tag (adopting tagged items it finds); the old mailbox's items stay.
    To move a trainer to another service use `trainer-sync trainer link EMAIL --service NEW`.
    """
    if name is None and new_email is None and mailbox is None:
        raise ConfigurationError("Nothing to change.", "Give --name, --email or --mailbox.")
    with store() as session:
        trainer = configuration.find_trainer(session, email, provider)
        lifecycle.update_trainer(session, trainer, name, new_email, mailbox)
        shown = f"Updated trainer {trainer.name} <{trainer.email}>" + (
            f", mailbox {trainer.link.mailbox}." if trainer.link else "."
        )
    console.print(shown, markup=False, highlight=False)


@app.command("remove")
def remove(
    email: str = typer.Argument(..., help="The trainer's email."),
    provider: str | None = PROVIDER_OPTION,
) -> None:
    """Remove an unlinked trainer with its assignments, unavailability and sync history."""
    with store() as session:
        trainer = configuration.find_trainer(session, email, provider)
        shown = f"Removed trainer {trainer.name} <{trainer.email}> of {trainer.provider.name!r}."
        lifecycle.remove_trainer(session, trainer)
    console.print(shown, markup=False, highlight=False)
