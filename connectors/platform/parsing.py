"""Checks on administrator input: times, addresses, links, directions, free text. Each failure
says what to do."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from sync_rules.errors import ConfigurationError
from sync_rules.vocabulary import DIRECTIONS

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: How much of a refused value a message repeats: enough to find it, never a whole 2 MB field.
SHOWN_CHARACTERS = 60
#: Links Outlook may show as clickable: web pages only (no javascript:, file:, ftp: ...).
WEB_SCHEMES = ("http", "https")
# Line breaks and control characters have no place in a one-line value: Exchange's XML cannot
# carry most of them, PostgreSQL refuses NUL, and a line break would split a subject.
# These are exactly Unicode's control (Cc), line separator and paragraph separator characters.
_NOT_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def shown(text: str) -> str:
    """`text` quoted for a message, cut short when long."""
    if len(text) <= SHOWN_CHARACTERS:
        return repr(text)
    return repr(text[:SHOWN_CHARACTERS]) + f"… ({len(text):,} characters)"


def column_length(attribute: Any) -> int:
    """The most characters a model's string column keeps (e.g. `Trainer.name`)."""
    length = attribute.type.length
    assert isinstance(length, int)
    return length


def check_one_line(text: str, field: str, most: int) -> str:
    """A one-line value of at most `most` characters (the size the store keeps)."""
    if len(text) > most:
        raise ConfigurationError(
            f"{field} is {len(text):,} characters long; it can hold at most {most:,}.",
            f"Shorten the {field}.",
        )
    found = _NOT_ONE_LINE.search(text)
    if found is not None:
        code = f"U+{ord(found.group()):04X}"
        raise ConfigurationError(
            f"{field} {shown(text)} contains a line break or control character ({code}).",
            f"Write the {field} on one line, without control characters.",
        )
    return text


def check_web_url(text: str, field: str) -> str:
    """A link to a web page: http or https, with a host."""
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # e.g. an unclosed IPv6 bracket or a port that is not a number
        parts, port_ok = None, False
    if (
        parts is None
        or not port_ok
        or parts.scheme.lower() not in WEB_SCHEMES
        or not parts.hostname
        or any(c.isspace() for c in text)
    ):
        raise ConfigurationError(
            f"{field}: {shown(text)} is not a web address (http:// or https:// with a host).",
            "Give the page's full address, e.g. https://lms.example.com/events/42.",
        )
    return text


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
