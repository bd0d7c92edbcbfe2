"""Checks on administrator input: times, addresses, directions. Each failure says what to do."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from sync_rules.errors import ConfigurationError
from sync_rules.vocabulary import DIRECTIONS

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def parse_aware_time(text: str, field: str) -> datetime:
    """Parse an ISO 8601 time that carries a UTC offset; return it in UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(
            f"{field}: {text!r} is not an ISO 8601 time.",
            "Write it like 2026-03-02T09:00:00+00:00.",
        ) from None
    if value.tzinfo is None:
        raise ConfigurationError(
            f"{field}: {text!r} has no UTC offset, so the time is ambiguous.",
            "Add the offset, e.g. 2026-03-02T09:00:00+00:00 or 2026-07-02T09:00:00+01:00.",
        )
    return value.astimezone(UTC)


def parse_day(text: str, field: str) -> date:
    """The day an administrator means for an all-day block: a date (2027-07-05), or a time
    at midnight in its own offset (2027-07-05T00:00:00+00:00 is 5 July, whatever the zone the
    provider's calendar shows). Any other time of day is refused: an all-day block is days."""
    value = text.strip()
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    moment = parse_aware_time(value, field).astimezone(
        datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo
    )
    if moment.time() != datetime.min.time():
        raise ConfigurationError(
            f"{field}: {text!r} is not a whole day: an all-day block runs from midnight to "
            "midnight.",
            "Give dates, e.g. --start 2027-07-05 --end 2027-07-06 for 5 July (the end is the "
            "day after the last), or drop --all-day for a block with times.",
        )
    return moment.date()


def check_period(start: datetime, end: datetime, what: str) -> None:
    if end <= start:
        raise ConfigurationError(
            f"The {what} ends ({end.isoformat()}) before it starts ({start.isoformat()}).",
            "Give an end time after the start time.",
        )


def normalise_email(text: str, field: str = "email") -> str:
    email = text.strip().lower()
    if not _EMAIL.match(email):
        raise ConfigurationError(
            f"{field}: {text!r} is not an email address.", "Give an address like name@example.com."
        )
    return email


def check_direction(text: str) -> str:
    direction = text.strip().lower()
    if direction not in DIRECTIONS:
        raise ConfigurationError(
            f"Unknown direction {text!r}.",
            "Use 'in' (Outlook → platform), 'out' (platform → Outlook) or 'both'.",
        )
    return direction


def parse_bool(text: str, field: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "y", "on"):
        return True
    if value in ("0", "false", "no", "n", "off"):
        return False
    raise ConfigurationError(f"{field}: {text!r} is not yes/no.", "Use true or false.")


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].lower()
