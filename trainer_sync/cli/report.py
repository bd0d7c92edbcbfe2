"""`trainer-sync report`: what the store knows that an operator follows up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import typer

from connectors.platform import configuration
from connectors.platform.state import list_clashes, overrides_since
from sync_rules.clashes import local_time, session_text
from sync_rules.errors import ConfigurationError
from sync_rules.tamper import COUNT_COLUMNS, COUNTED, HISTORY_COLUMNS, PERIODS, tamper_report
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


# ---------------------------------------------------------------- report tamper


@app.command("tamper")
def tamper(
    provider: str | None = typer.Option(None, help="Only this provider's trainers."),
    days: int | None = typer.Option(
        None,
        help="Only the trainers with an edit or deletion in the last 7 or 30 days, ranked by "
        "that period; both periods by default.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Trainers who override the platform in Outlook: their edits, moves and deletions of
    pushed sessions in the last 7 and 30 days, worst first, and who Exchange says made them.

    Each is a change the sync put back as the platform has it; a move is an edit of the
    times. Counts, times and names only, never what a session says.
    """
    if days is not None and days not in PERIODS:
        raise ConfigurationError(
            f"--days must be {' or '.join(map(str, PERIODS))}, not {days}.",
            "Give --days 7 or --days 30, or leave it out to see both periods.",
        )
    now = datetime.now(UTC)
    with store() as session:
        scope = configuration.get_provider(session, provider) if provider is not None else None
        rows = overrides_since(session, now - timedelta(days=max(PERIODS)), scope)
    report = tamper_report(pd.DataFrame(rows, columns=list(HISTORY_COLUMNS)), now, days)
    records: list[dict[str, Any]] = report.to_dict("records")
    for record in records:
        record["last_at"] = pd.Timestamp(record["last_at"]).to_pydatetime()
        record.update({c: int(record[c]) for c in COUNT_COLUMNS})
    if as_json:
        print_json(records)
        return
    periods = PERIODS if days is None else (days,)
    if not records:
        console.print(
            f"No trainer edited or deleted a pushed session in Outlook in the last "
            f"{max(periods)} days."
        )
        return
    columns = [f"{kind}_{period}d" for period in periods for kind in COUNTED]
    print_table(
        "Outlook overrides: pushed sessions trainers edited, moved or deleted (worst first)",
        ["provider", "trainer", *columns, "last_at", "modified_by"],
        records,
    )
