"""`trainer-sync events|unavailability|calendar`: the platform calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.orm import Session

from connectors.platform import configuration, events
from connectors.platform.calendar import (
    add_all_day_unavailability,
    add_unavailability,
    list_unavailability,
    remove_unavailability,
    trainer_calendar,
)
from connectors.platform.csv_import import import_events
from connectors.platform.models import TrainingEvent
from connectors.platform.parsing import check_period, parse_aware_time, parse_day
from sync_rules.errors import ConfigurationError
from trainer_sync.cli.context import store
from trainer_sync.cli.output import console, print_fields, print_json, print_table

PROVIDER_OPTION = typer.Option(
    None, "--provider", help="The trainer's provider, when the email is in several."
)

events_app = typer.Typer(help="Training events and their sessions.", no_args_is_help=True)
unavailability_app = typer.Typer(help="Trainers' unavailability.", no_args_is_help=True)


@events_app.command("import")
def import_(
    path: Path = typer.Argument(..., help="CSV file."),
    provider: str = typer.Option(..., help="Provider the events belong to."),
) -> None:
    """Add or update training events from a UTF-8 CSV (all rows, or none); re-importing
    changes nothing.

    Columns: event_ref, course, venue, venue_address, status, session_start, session_end,
    trainer_emails (;-separated), event_url, delegate_instructions_url, trainer_instructions_url.
    """
    with store() as session:
        counts = import_events(session, configuration.get_provider(session, provider), path)
    console.print(
        f"Imported {path}: {counts['events_created']} event(s) created, "
        f"{counts['events_updated']} updated, {counts['sessions_changed']} session change(s)."
    )


EVENT_PROVIDER_OPTION = typer.Option(
    None, "--provider", help="The event's provider, when its ref is in several."
)


@events_app.command("list")
def events_list(
    provider: str | None = typer.Option(None, help="Only this provider's events."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List training events with their status, sessions and trainers."""
    with store() as session:
        scope = configuration.get_provider(session, provider) if provider else None
        rows = [
            {
                "provider": events.event_provider(session, e).name,
                "ref": e.ref,
                "course": e.course.name,
                "venue": e.venue.name if e.venue else None,
                "status": e.status,
                "sessions": len(e.sessions),
                "first_start": e.sessions[0].start if e.sessions else None,
                "trainers": ", ".join(sorted(a.trainer.email for a in e.assignments)),
            }
            for e in events.list_events(session, scope)
        ]
    if as_json:
        print_json(rows)
    else:
        columns = ["provider", "ref", "course", "venue", "status", "sessions", "first_start"]
        print_table("Training events", [*columns, "trainers"], rows)


def _event(session: Session, ref: str, provider: str | None) -> TrainingEvent:
    """The event `ref`, of `provider` when given (refs are unique per provider only)."""
    scope = configuration.get_provider(session, provider) if provider else None
    return events.find_event(session, ref, scope)


@events_app.command("show")
def events_show(
    ref: str = typer.Argument(..., help="The event's ref."),
    provider: str | None = EVENT_PROVIDER_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show an event and, per session and assigned trainer, its state in Outlook."""
    with store() as session:
        event = _event(session, ref, provider)
        data = {
            "provider": events.event_provider(session, event).name,
            "ref": event.ref,
            "course": event.course.name,
            "venue": event.venue.name if event.venue else None,
            "venue_address": event.venue.address if event.venue else None,
            "status": event.status,
            "event_url": event.event_url,
            "delegate_instructions_url": event.delegate_instructions_url,
            "trainer_instructions_url": event.trainer_instructions_url,
        }
        sittings = events.outlook_state(session, event)
    if as_json:
        print_json({**data, "sessions": sittings})
        return
    print_fields(f"Event {data['ref']}", data)
    columns = ["session", "start", "end", "trainer", "outlook", "last_sync"]
    print_table("Sessions in Outlook", columns, sittings)


@events_app.command("cancel")
def events_cancel(
    ref: str = typer.Argument(..., help="The event's ref."),
    provider: str | None = EVENT_PROVIDER_OPTION,
) -> None:
    """Cancel an event: it stays in the platform; the next sync deletes its Outlook items."""
    with store() as session:
        event = _event(session, ref, provider)
        events.cancel_event(event)
        shown = f"Cancelled event {event.ref}; the next sync removes its sessions from Outlook."
    console.print(shown, markup=False, highlight=False)


@events_app.command("remove")
def events_remove(
    ref: str = typer.Argument(..., help="The event's ref."),
    provider: str | None = EVENT_PROVIDER_OPTION,
) -> None:
    """Remove an event and its sessions; the next sync deletes their Outlook items."""
    with store() as session:
        event = _event(session, ref, provider)
        shown = f"Removed event {event.ref}; the next sync removes its sessions from Outlook."
        events.remove_event(session, event)
    console.print(shown, markup=False, highlight=False)


@unavailability_app.command("add")
def add(
    trainer: str = typer.Option(..., help="Trainer's email."),
    start: str = typer.Option(
        ..., help="ISO 8601 with offset, e.g. 2026-03-02T09:00+00:00 (with --all-day: a date)"
    ),
    end: str = typer.Option(
        ..., help="ISO 8601 with offset (with --all-day: the day after the last day)."
    ),
    all_day: bool = typer.Option(False, "--all-day", help="Whole days."),
    reason: str | None = typer.Option(None, help="Why (shown in the platform)."),
    provider: str | None = PROVIDER_OPTION,
) -> None:
    """Mark a trainer unavailable, for a time or for whole days (an exact duplicate is refused)."""
    if all_day:
        first, after = parse_day(start, "--start"), parse_day(end, "--end")
        with store() as session:
            who = configuration.find_trainer(session, trainer, provider)
            row = add_all_day_unavailability(session, who, first, after, reason)
        last = after - timedelta(days=1)
        days = f"{first}" if last == first else f"{first} – {last}"
        console.print(f"Added unavailability:{row.id} for {trainer} (all day {days}).")
        return
    begins, ends = parse_aware_time(start, "--start"), parse_aware_time(end, "--end")
    with store() as session:
        row = add_unavailability(
            session,
            configuration.find_trainer(session, trainer, provider),
            begins,
            ends,
            False,
            reason,
        )
    console.print(f"Added unavailability:{row.id} for {trainer} ({begins} – {ends}).")


@unavailability_app.command("list")
def list_(
    trainer: str | None = typer.Option(None, help="Only this trainer's (email)."),
    provider: str | None = typer.Option(
        None, help="Only this provider's trainers (or the trainer's provider)."
    ),
    from_: str | None = typer.Option(None, "--from", help="Ending after this day (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List unavailability with its id, origin and reason (platform and Outlook mirrors)."""
    since = _day_or_time(from_, "--from") if from_ else None
    with store() as session:
        if trainer:
            trainers = [configuration.find_trainer(session, trainer, provider)]
        else:
            scope = configuration.get_provider(session, provider) if provider else None
            trainers = configuration.list_trainers(session, scope)
        rows = [
            {
                "id": row.id,
                "provider": who.provider.name,
                "trainer": who.email,
                "start": row.start,
                "end": row.end,
                "all_day": row.all_day,
                "origin": row.origin,
                "reason": row.reason,
            }
            for row, who in list_unavailability(session, trainers, since)
        ]
    if as_json:
        print_json(rows)
    else:
        columns = ["id", "provider", "trainer", "start", "end", "all_day", "origin", "reason"]
        print_table("Unavailability", columns, rows)


@unavailability_app.command("remove")
def remove(row_id: int = typer.Argument(..., metavar="ID", help="Its id (see `list`).")) -> None:
    """Remove a platform unavailability block; the next sync removes its Outlook item."""
    with store() as session:
        row = remove_unavailability(session, row_id)
        period = f"{row.start.isoformat()} – {row.end.isoformat()}"
        shown = f"Removed unavailability:{row.id} ({period})."
    console.print(shown, markup=False, highlight=False)


def _day_or_time(text: str, option: str) -> datetime:
    """A date (taken as UTC midnight) or an ISO 8601 time with offset."""
    try:
        return (
            datetime.fromisoformat(text).replace(tzinfo=UTC)
            if len(text) == 10
            else (parse_aware_time(text, option))
        )
    except ValueError:
        raise ConfigurationError(
            f"{option}: {text!r} is not a date.", "Write it like 2026-03-02."
        ) from None


def calendar(
    trainer: str = typer.Option(..., help="Trainer's email."),
    from_: str | None = typer.Option(None, "--from", help="First day (default: today)."),
    to: str | None = typer.Option(None, "--to", help="Day after the last (default: +30 days)."),
    provider: str | None = PROVIDER_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a trainer's platform calendar: sessions and unavailability with their origin."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = _day_or_time(from_, "--from") if from_ else today
    end = _day_or_time(to, "--to") if to else start + timedelta(days=30)
    check_period(start, end, "calendar range")
    with store() as session:
        who = configuration.find_trainer(session, trainer, provider)
        zone = ZoneInfo(who.provider.timezone)
        rows = trainer_calendar(session, who, start, end)
    if as_json:
        print_json(rows)
        return
    shown = [
        {
            "start": r["start"].astimezone(zone).strftime("%a %d %b %Y %H:%M"),
            "end": r["end"].astimezone(zone).strftime("%a %d %b %Y %H:%M"),
            "what": _title(r),
            "origin": r["origin"],
            "key": r["entry_key"],
        }
        for r in rows
    ]
    print_table(
        f"{who.name} <{who.email}> ({zone.key})", ["start", "end", "what", "origin", "key"], shown
    )


def _title(row: dict[str, Any]) -> str:
    if row["kind"] == "session":
        return " — ".join(filter(None, [row["course"], row["venue"]]))
    return "Unavailable" + (f" ({row['reason']})" if row["reason"] else "")
