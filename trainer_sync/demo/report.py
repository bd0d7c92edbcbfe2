"""What the demo prints: the trainers and their directions, what each sync changed where and
why, and what a trainer's Outlook shows.

Dates read in one format throughout, the product's own (`sync_rules.render.format_when`):
"Mon 7 Dec 2026, 09:00–17:00", "Fri 11 Dec 2026 (all day)". Names, subjects and bodies
are the platform's and the trainers' data: tables print them as text, never as markup.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from trainer_sync.demo.cast import PROVIDER
from trainer_sync.demo.outlook import OutlookItem

#: What each direction does, in a trainer's terms.
DIRECTION_MEANING = {
    "out": "course sessions and platform unavailability are pushed into their Outlook",
    "in": "their own Outlook appointments block them in the platform as Unavailable",
    "both": "both of the above, without echo loops",
}
WHY_IN_GETS_NO_COURSE = (
    "An `in` trainer only has their own Outlook appointments mirrored into the platform as "
    '"Unavailable"; platform sessions are not pushed to them (link them `out` or `both` '
    "for that)."
)


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def when_text(start: Any, end: Any, all_day: bool, tz: str) -> str:
    """One entry's dates in the product's format, read in `tz`."""
    from sync_rules.render import format_when

    def utc(value: Any) -> pd.Series:
        return pd.Series([pd.Timestamp(value)]).dt.tz_convert("UTC")

    return str(format_when(utc(start), utc(end), pd.Series([all_day]), tz)[0])


def display_timezone(url: str) -> str:
    """Where the provider's days begin: the zone its summaries and bodies read in."""
    from connectors.platform import configuration, db
    from sync_rules.rules import load_rules

    with db.transaction(url) as session:
        provider = configuration.get_provider(session, PROVIDER)
        return load_rules(overrides=provider.rules or None).timezone


def _trainers(url: str) -> list[dict[str, Any]]:
    """The provider's trainers: name, email, direction (None when not linked)."""
    from connectors.platform import configuration, db

    with db.transaction(url) as session:
        provider = configuration.get_provider(session, PROVIDER)
        return [
            {
                "trainer": t.name,
                "email": t.email,
                "direction": t.link.direction if t.link else None,
            }
            for t in configuration.list_trainers(session, provider)
        ]


def print_trainers(url: str) -> None:
    from trainer_sync.cli.output import print_table

    rows = [
        {**t, "what syncs": DIRECTION_MEANING.get(t["direction"], "nothing: not linked")}
        for t in _trainers(url)
    ]
    print_table(
        "Trainers and their directions", ["trainer", "email", "direction", "what syncs"], rows
    )


# A change's summary names the times it is about in the format above: where the item is
# now comes after the arrow of a move or update, else after the last ": ".
_DAY_AND_TIME = re.compile(r"(\d{1,2}) ([A-Z][a-z]{2}) (\d{4})(?:,? (\d{2}):(\d{2}))?")
# The product's month names (`sync_rules.render`), whatever the machine's locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def time_of(summary: str) -> datetime:
    """When the change of `summary` takes place (where the item is now, wall time); the
    latest possible time when it names none, so such rows sort last."""
    now = summary.rsplit(" → ", 1)[-1].rsplit(": ", 1)[-1]
    match = _DAY_AND_TIME.search(now)
    if match is None or match.group(2) not in _MONTHS:
        return datetime.max
    day, month, year, hours, minutes = match.groups()
    return datetime(
        int(year), _MONTHS.index(month) + 1, int(day), int(hours or 0), int(minutes or 0)
    )


def print_changes(url: str, since: datetime) -> None:
    """This run's changes, by trainer and then in time order, with each one's reason."""
    from connectors.platform import db
    from connectors.platform.state import change_history
    from trainer_sync.cli.output import print_table

    with db.transaction(url) as session:
        rows = [r for r in change_history(session, limit=500) if r["at"] >= since]
    if not rows:
        print("No changes: both sides were already in sync.")
        return
    trainers = {t["email"]: t for t in _trainers(url)}
    for row in rows:
        row["direction"] = trainers[row["trainer"]]["direction"]
        row["trainer"] = trainers[row["trainer"]]["trainer"]
        # Nearly every change is applied: name the outcome only when it is not, which
        # keeps a row on one line of a 200-column log.
        if row["outcome"] != "applied":
            row["action"] = f"{row['action']} ({row['outcome']})"
    rows.sort(key=lambda r: (r["trainer"], time_of(r["summary"] or ""), r["side"]))
    print_table(
        "What changed where, and why",
        ["trainer", "direction", "side", "action", "reason", "summary"],
        rows,
    )


def _courses_of_in_trainers(url: str) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(name, email, sessions) of each `in` trainer the platform has teaching, from a week
    ago to a year ahead (the sync's window)."""
    from connectors.platform import configuration, db
    from connectors.platform.calendar import trainer_calendar

    start = datetime.now(UTC) - timedelta(days=7)
    found = []
    with db.transaction(url) as session:
        provider = configuration.get_provider(session, PROVIDER)
        for trainer in configuration.list_trainers(session, provider):
            if trainer.link is None or trainer.link.direction != "in":
                continue
            entries = trainer_calendar(session, trainer, start, start + timedelta(days=372))
            sessions = [e for e in entries if e["kind"] == "session"]
            if sessions:
                found.append((trainer.name, trainer.email, sessions))
    return found


def explain_in_trainers(url: str, tz: str) -> None:
    """Why an `in` trainer got none of the courses the platform has them teaching."""
    found = _courses_of_in_trainers(url)
    for name, email, sessions in found:
        print(f"{name} ({email}, in) teaches these courses but got none of them in Outlook:")
        for entry in sessions:
            print(f"  {entry['course']}: {when_text(entry['start'], entry['end'], False, tz)}")
    if found:
        print(WHY_IN_GETS_NO_COURSE)


def item_when(item: OutlookItem, tz: str) -> str:
    return when_text(item.start, item.end, item.all_day, tz)


def print_outlook_item(item: OutlookItem, tz: str) -> None:
    """An item as the trainer's Outlook shows it: subject, time, location and body."""
    print(f"Subject:  {item.subject}")
    print(f"When:     {item_when(item, tz)}")
    print(f"Location: {item.location}")
    print("Body:")
    for line in item.body.splitlines():
        print(f"  {line}")
