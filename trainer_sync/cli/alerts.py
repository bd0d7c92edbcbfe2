"""`trainer-sync alerts ...`: where the Prefect automations of trainer-sync send their alerts.

The channels are Prefect notification blocks and the alerts are Prefect automations, both on
the server of PREFECT_API_URL (see docs/operations.md §Alerts). A URL or key given as `-` is
read from standard input, so it stays out of the shell's history and the process list.
"""

from __future__ import annotations

import re
import sys

import typer

from sync_rules.errors import ConfigurationError
from trainer_sync.cli.output import console, error_console, print_json, print_table

app = typer.Typer(help="Alerts: the channels Prefect's automations notify.", no_args_is_help=True)


def _value(given: str) -> str:
    """`given`, or a line of standard input when it is `-`."""
    return sys.stdin.readline().rstrip("\r\n") if given == "-" else given


def _redacted(text: str) -> str:
    """`text` with every URL cut to its scheme and host: webhook paths hold their tokens."""
    return re.sub(r"(https?://[^/\s'\"]+)[^\s'\"]*", r"\1/…", text)


def _refresh_automations() -> list[str]:
    """Update the automations' actions for the channels as they are now."""
    from deployments.alerts import current_interval, ensure_automations
    from deployments.serve import resolve_interval

    return ensure_automations(current_interval() or resolve_interval())


@app.command("add")
def add(
    webhook: str | None = typer.Option(
        None, "--webhook", help="A URL that gets each alert as JSON (subject, body); - reads stdin."
    ),
    slack_webhook: str | None = typer.Option(
        None, "--slack-webhook", help="A Slack incoming-webhook URL; - reads stdin."
    ),
    teams_webhook: str | None = typer.Option(
        None, "--teams-webhook", help="A Microsoft Teams workflow webhook URL; - reads stdin."
    ),
    email: list[str] | None = typer.Option(
        None, "--email", help="Send alerts to this address (repeat for more), through SendGrid."
    ),
    sender: str | None = typer.Option(None, "--sender", help="With --email: the From address."),
    sendgrid_key_stdin: bool = typer.Option(
        False, "--sendgrid-key-stdin", help="With --email: read the SendGrid API key from stdin."
    ),
    name: str | None = typer.Option(
        None, "--name", help="The channel's name (default: webhook, slack, teams or email)."
    ),
) -> None:
    """Add a channel; every trainer-sync alert is sent to it from now on."""
    from prefect.blocks.abstract import NotificationBlock

    from deployments.channels import (
        add_channel,
        check_name,
        email_block,
        slack_block,
        teams_block,
        webhook_block,
    )
    from deployments.serve import api_url

    given = {
        "webhook": webhook,
        "slack": slack_webhook,
        "teams": teams_webhook,
        "email": email or None,
    }
    chosen = [kind for kind, value in given.items() if value is not None]
    if len(chosen) != 1:
        raise ConfigurationError(
            "Give exactly one of --webhook, --slack-webhook, --teams-webhook and --email.",
            "Add each channel with its own `trainer-sync alerts add`.",
        )
    kind = chosen[0]
    block: NotificationBlock
    check_name(name or kind)
    if kind == "email":
        if not sender or not sendgrid_key_stdin:
            raise ConfigurationError(
                "Email alerts are sent through SendGrid: --email needs --sender and "
                "--sendgrid-key-stdin.",
                'echo "$SENDGRID_API_KEY" | trainer-sync alerts add --email ops@example.com '
                "--sender alerts@example.com --sendgrid-key-stdin",
            )
        block = email_block(list(email or []), sender, sys.stdin.readline().rstrip("\r\n"))
    else:
        url = _value(str(given[kind]))
        block = {"webhook": webhook_block, "slack": slack_block, "teams": teams_block}[kind](url)
    api_url()
    channel = add_channel(name or kind, block)
    automations = _refresh_automations()
    console.print(
        f"Added alert channel {channel.name} ({channel.target}); "
        f"{len(automations)} automations send to it. Try it: trainer-sync alerts test "
        f"{channel.name}",
        highlight=False,
    )


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the channels and the automations that send to them."""
    from deployments.alerts import NAME_PREFIX, list_automations
    from deployments.channels import list_channels
    from deployments.serve import api_url

    api_url()
    channels = [{"name": c.name, "kind": c.kind, "target": c.target} for c in list_channels()]
    automations = [
        {"automation": a.name, "enabled": a.enabled, "sends_to": a.sends_to, "when": a.description}
        for a in list_automations()
    ]
    if as_json:
        print_json({"channels": channels, "automations": automations})
        return
    if channels:
        print_table("Alert channels", ["name", "kind", "target"], channels)
    else:
        console.print(
            "No alert channel: the automations fire but send nothing. Add one with "
            "`trainer-sync alerts add --webhook URL`.",
            highlight=False,
        )
    if automations:
        print_table("Automations", ["automation", "enabled", "sends_to", "when"], automations)
    else:
        console.print(
            f"No '{NAME_PREFIX}…' automation on this server yet: `trainer-sync serve` or "
            "`deploy` creates them.",
            highlight=False,
        )


@app.command("remove")
def remove(name: str) -> None:
    """Remove a channel; the automations stop sending to it."""
    from deployments.channels import remove_channel
    from deployments.serve import api_url

    api_url()
    channel = remove_channel(name)
    _refresh_automations()
    console.print(f"Removed alert channel {channel.name}.", highlight=False)


@app.command("test")
def test(name: str | None = typer.Argument(None, help="One channel (default: all).")) -> None:
    """Send a test notification through each channel (exit 1 if one could not be sent)."""
    from deployments.channels import channel_named, list_channels, send_test
    from deployments.serve import api_url

    api_url()
    channels = [channel_named(name)] if name else list_channels()
    if not channels:
        raise ConfigurationError(
            "There is no alert channel to test.", "Add one with `trainer-sync alerts add`."
        )
    failed = 0
    for channel in channels:
        try:
            send_test(channel)
        except Exception as exc:  # the channel's own error (refused, unreachable): say it
            failed += 1
            reason = _redacted(str(exc).splitlines()[0][:300]) if str(exc) else type(exc).__name__
            error_console.print(f"Could not send to {channel.name}: {reason}", highlight=False)
            continue
        console.print(f"Sent a test notification to {channel.name}.", highlight=False)
    if failed:
        error_console.print(
            "Check the channel's URL or key (remove it and add it again to change it).",
            highlight=False,
        )
        raise typer.Exit(1)
