"""`trainer-sync provider ...`: training providers (tenants)."""

from __future__ import annotations

import typer

from connectors.platform import configuration
from trainer_sync.cli.context import store
from trainer_sync.cli.output import console, print_json, print_table

app = typer.Typer(help="Training providers.", no_args_is_help=True)


@app.command("add")
def add(
    name: str,
    sync_engine: bool = typer.Option(
        False, "--sync-engine/--no-sync-engine", help="Sync this provider on the schedule."
    ),
) -> None:
    """Add a training provider."""
    with store() as session:
        provider = configuration.add_provider(session, name, sync_engine)
    state = "enabled" if provider.sync_engine_enabled else "disabled"
    console.print(f"Added provider {provider.name!r} (sync engine {state}).")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List providers."""
    with store() as session:
        rows = [
            {"name": p.name, "sync_engine_enabled": p.sync_engine_enabled, "timezone": p.timezone}
            for p in configuration.list_providers(session)
        ]
    if as_json:
        print_json(rows)
    else:
        print_table("Providers", ["name", "sync_engine_enabled", "timezone"], rows)
