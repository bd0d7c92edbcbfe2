"""`trainer-sync report`: what the store knows that an operator follows up."""

from __future__ import annotations

from typing import Any

import pandas as pd
import typer

from connectors.platform import configuration
from connectors.platform.state import list_clashes
from sync_rules.clashes import local_time, session_text
from trainer_sync.cli.context import store
from trainer_sync.cli.output import console, print_json, print_table

app = typer.Typer(help="Reports an operator follows up, read from the store.", no_args_is_help=True)


# ---------------------------------------------------------------- report clashes

#: What `report clashes --json` gives per clash (times in UTC, ISO 8601).
CLASH_FIELDS = (
    "provider",
    "trainer",
    "entry_key",
    "course",
    "session_start",
    "session_end",
    "busy_start",
    "busy_end",
    "busy_all_day",
    "show_as",
    "first_seen_at",
    "last_seen_at",
    "resolved_at",
)


@app.command("clashes")
def clashes(
    provider: str | None = typer.Option(None, help="Only this provider's trainers."),
    resolved: bool = typer.Option(
        False, "--all", help="Also the clashes that went away, with when they did."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Sessions on time the trainer's own Outlook calendar shows as taken, earliest first.

    Each sync finds them among the trainers it read (direction out or both); times and
    free/busy status only, never what the trainer's own appointment says.
    """
    with store() as session:
        scope = configuration.get_provider(session, provider) if provider is not None else None
        rows = list_clashes(session, scope, resolved=resolved)
    if as_json:
        print_json([{name: row[name] for name in CLASH_FIELDS} for row in rows])
        return
    if not rows:
        console.print("No clashes." if not resolved else "No clashes, current or resolved.")
        return
    columns = ["provider", "trainer", "session", "busy_from", "busy_to", "shown_as", "first_seen"]
    print_table(
        "Clashes: sessions on time the trainer's Outlook shows as taken",
        [*columns, "time_zone", *(["resolved"] if resolved else [])],
        _shown(rows),
    )


def _shown(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The clashes as the table shows them, each in its provider's time zone."""
    frame = pd.DataFrame(rows)
    for name in ("session_start", "session_end", "busy_start", "busy_end", "first_seen_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    frame["resolved_at"] = pd.to_datetime(frame["resolved_at"], utc=True)
    shown = frame[["provider", "trainer"]].copy()
    for zone, part in frame.groupby("timezone", sort=False):
        tz = str(zone)
        at = part.index
        shown.loc[at, "session"] = session_text(part, tz)
        shown.loc[at, "busy_from"] = local_time(part["busy_start"], tz)
        shown.loc[at, "busy_to"] = local_time(part["busy_end"], tz)
        shown.loc[at, "first_seen"] = local_time(part["first_seen_at"], tz)
        done = part["resolved_at"].dropna()
        shown.loc[done.index, "resolved"] = local_time(done, tz)
        shown.loc[at, "time_zone"] = tz
    shown["shown_as"] = frame["show_as"]
    shown = shown.astype(object).where(shown.notna(), None)
    records: list[dict[str, Any]] = shown.to_dict("records")
    return records
