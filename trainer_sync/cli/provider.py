"""`trainer-sync provider ...`: training providers (tenants)."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from connectors.platform import configuration, lifecycle
from sync_rules.errors import ConfigurationError
from sync_rules.rules import load_rules
from trainer_sync.cli.context import store
from trainer_sync.cli.output import console, print_fields, print_json, print_table
from trainer_sync.cli.runtime import cli_resources

app = typer.Typer(help="Training providers.", no_args_is_help=True)


class _RulesDumper(yaml.SafeDumper):
    """YAML as a person writes it: a multi-line text (the body template) as a literal block,
    one line per line, instead of a quoted scalar with a blank line for every line break."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_RulesDumper.add_representer(str, _represent_text)


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


@app.command("set-rules")
def set_rules(
    name: str,
    file: Path | None = typer.Option(
        None, "--file", help="YAML with the settings that differ from the defaults."
    ),
    reset: bool = typer.Option(False, "--reset", help="Go back to the default rules."),
) -> None:
    """Set a provider's sync rules (merged over the defaults); checked before saving."""
    if (file is None) == (not reset):
        raise ConfigurationError(
            "Give exactly one of --file FILE and --reset.",
            "See `trainer-sync provider rules NAME` for the settings in force.",
        )
    overrides = None
    if file is not None:
        load_rules(path=file)  # a bad file fails here, naming the file, field and reason
        overrides = yaml.safe_load(file.read_text(encoding="utf-8")) or None
    with store() as session:
        provider = configuration.get_provider(session, name)
        provider.rules = overrides
    what = f"rules from {file}" if file else "the default rules"
    console.print(f"Provider {name!r} now syncs with {what}.")


@app.command("rules")
def rules(name: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the rules in force for a provider (defaults merged with its own settings)."""
    with store() as session:
        provider = configuration.get_provider(session, name)
        effective = load_rules(overrides=provider.rules or None)
    data = effective.model_dump(mode="json", by_alias=True)
    if as_json:
        print_json(data)
    else:
        text = yaml.dump(data, Dumper=_RulesDumper, sort_keys=False, allow_unicode=True)
        console.print(text, end="", highlight=False, markup=False)


@app.command("unlock")
def unlock(name: str) -> None:
    """Take over a provider's sync lock from a run that died (refused while that run lives).

    A run renews its lock while it works, so a crashed run's lock frees itself within one
    lease (90 s by default); this frees it now.
    """
    from tasks.locks import unlock_provider

    with store() as session:
        provider = configuration.get_provider(session, name)
        provider_id, provider_name = provider.id, provider.name
    with cli_resources() as resources:
        result = unlock_provider(resources, provider_name, provider_id)
    if result.outcome == "alive":
        raise ConfigurationError(result.message, "Nothing was changed.")
    console.print(result.message, highlight=False)


@app.command("show")
def show(name: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show a provider: its settings, services and trainers."""
    with store() as session:
        provider = configuration.get_provider(session, name)
        data = {
            "name": provider.name,
            "sync_engine_enabled": provider.sync_engine_enabled,
            "timezone": provider.timezone,
            "own_rules": bool(provider.rules),
            "created_at": provider.created_at,
            "services": sorted(s.name for s in provider.services),
            "trainers": len(provider.trainers),
            "linked_trainers": len(lifecycle.linked_trainers(session, provider)),
        }
    if as_json:
        print_json(data)
        return
    print_fields(f"Provider {data['name']}", data)


@app.command("rename")
def rename(name: str, new_name: str) -> None:
    """Rename a provider (names are unique whatever their case)."""
    with store() as session:
        provider = configuration.get_provider(session, name)
        old = provider.name
        lifecycle.rename_provider(session, provider, new_name)
        renamed = provider.name
    console.print(f"Renamed provider {old!r} to {renamed!r}.", markup=False, highlight=False)


@app.command("set")
def set_(
    name: str,
    sync_engine: bool | None = typer.Option(
        None, "--sync-engine/--no-sync-engine", help="Sync this provider on the schedule, or not."
    ),
    timezone: str | None = typer.Option(
        None,
        help="IANA time zone, e.g. Europe/London: where the provider's calendar is shown and "
        "whole days begin (its rules' `timezone`).",
    ),
) -> None:
    """Change a provider's settings: the sync engine on or off, its time zone."""
    if sync_engine is None and timezone is None:
        raise ConfigurationError(
            "Nothing to change.", "Give --sync-engine, --no-sync-engine or --timezone ZONE."
        )
    with store() as session:
        provider = configuration.get_provider(session, name)
        if sync_engine is not None:
            provider.sync_engine_enabled = sync_engine
        if timezone is not None:
            lifecycle.set_timezone(provider, timezone)
        state = "enabled" if provider.sync_engine_enabled else "disabled"
        shown = f"Provider {provider.name!r}: sync engine {state}, time zone {provider.timezone}."
    console.print(shown, markup=False, highlight=False)


@app.command(
    "remove",
    help="Remove a provider with everything it holds; refused while trainers are linked.\n\n"
    + lifecycle.FORCE_EFFECT,
)
def remove(
    name: str,
    force: bool = typer.Option(False, "--force", help="Remove it even with linked trainers."),
) -> None:
    with store() as session:
        provider = configuration.get_provider(session, name)
        removed_name = provider.name
        removal = lifecycle.remove_provider(session, provider, force)
    console.print(
        f"Removed provider {removed_name!r}: {removal.trainers} trainer(s) ({removal.linked} "
        f'linked) and {removal.inbound_mirrors} inbound "Unavailable" mirror(s) deleted; '
        "items in Outlook were left in place.",
        markup=False,
        highlight=False,
    )
