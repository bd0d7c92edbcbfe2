"""Bulk imports from CSV: trainers with their links, and training events with their sessions.

Every row is checked before anything is written; one bad row rejects the whole file, and
the error lists each bad row by its line number. Files are read as UTF-8 (a byte order mark
is allowed) with ',' between values; each value must fit the column that keeps it.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.platform.configuration import (
    check_same_domain,
    get_provider,
    get_service,
    link_trainer,
)
from connectors.platform.models import (
    EVENT_STATUSES,
    Course,
    EventSession,
    EventTrainer,
    Provider,
    Service,
    Trainer,
    TrainingEvent,
    Venue,
)
from connectors.platform.parsing import (
    check_direction,
    check_one_line,
    check_period,
    check_web_url,
    column_length,
    normalise_email,
    parse_aware_time,
    parse_bool,
    shown,
)
from sync_rules.errors import ConfigurationError, TrainerSyncError

TRAINER_COLUMNS = ("provider", "name", "email", "service", "direction", "calendar")
EVENT_COLUMNS = (
    "event_ref",
    "course",
    "venue",
    "venue_address",
    "status",
    "session_start",
    "session_end",
    "trainer_emails",
    "event_url",
    "delegate_instructions_url",
    "trainer_instructions_url",
)
MAX_LISTED_ERRORS = 20


#: The longest value each column may hold: what the store keeps, so a value is refused here,
#: by its line, rather than by the database or by Exchange at every sync.
TRAINER_LIMITS = {
    "provider": column_length(Provider.name),
    "name": column_length(Trainer.name),
    "email": column_length(Trainer.email),
    "service": column_length(Service.name),
}
URL_COLUMNS = ("event_url", "delegate_instructions_url", "trainer_instructions_url")
EVENT_LIMITS = {
    "event_ref": column_length(TrainingEvent.ref),
    "course": column_length(Course.name),
    "venue": column_length(Venue.name),
    "venue_address": 1000,
    "trainer_emails": 10_000,
    **{name: column_length(getattr(TrainingEvent, name)) for name in URL_COLUMNS},
}
#: Any other column holds a word, a flag or a time.
SHORT_VALUE_LIMIT = 100


@dataclass
class RowErrors:
    """Errors found in a file, by line; raised together so the admin fixes them in one go."""

    path: Path
    errors: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, message: str) -> None:
        self.errors.append((line, message))

    def raise_if_any(self) -> None:
        if not self.errors:
            return
        listed = "\n".join(f"  line {line}: {msg}" for line, msg in self.errors[:MAX_LISTED_ERRORS])
        more = len(self.errors) - MAX_LISTED_ERRORS
        if more > 0:
            listed += f"\n  … and {more} more"
        rows = len({line for line, _ in self.errors})
        problems = f" ({len(self.errors)} problems)" if len(self.errors) > rows else ""
        raise ConfigurationError(
            f"{self.path}: {rows} bad row(s){problems}; nothing was imported.\n{listed}",
            "Fix those rows and import the file again.",
        )


T = TypeVar("T")
Named = TypeVar("Named", Course, Venue)  # a provider's named thing, created on first use

_SAVE_AS_UTF8 = (
    'Save it as "CSV UTF-8 (Comma delimited)" in Excel (File > Save As), or as UTF-8 in '
    "your editor, and import it again."
)
_SAVE_WITH_COMMAS = (
    "Save it with commas between the values: in Excel, set the list separator to ',' "
    "(Windows Settings > Time & language > Region > Additional settings) before File > Save As "
    '> "CSV UTF-8 (Comma delimited)"; LibreOffice asks for the field delimiter when saving '
    "as CSV. Then import it again."
)
#: Byte order marks of encodings that are not UTF-8 (Excel's "Unicode Text" is UTF-16).
_OTHER_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}
#: Separators other than ',' that spreadsheets write, by the name a message gives them.
_OTHER_SEPARATORS = {";": "';'", "\t": "tabs"}


def _decode(path: Path, data: bytes) -> str:
    """The file's text. Only UTF-8 (with or without a byte order mark) is read: any bytes at
    all decode as Latin-1 or Windows-1252, so a guess would import a file saved in another
    code page (Central European, Cyrillic, ...) as wrong names without a word."""
    for bom, name in _OTHER_BOMS.items():
        if data.startswith(bom):
            raise ConfigurationError(f"{path} is {name} text, not UTF-8.", _SAVE_AS_UTF8)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start]
        guess = bytes([byte]).decode("cp1252", errors="replace")
        raise ConfigurationError(
            f"{path} is not UTF-8 text: line {line} has the byte 0x{byte:02X} "
            f'({guess!r} in Windows-1252), so it was probably saved as "CSV (Comma '
            'delimited)" in a Windows code page; nothing was imported.',
            _SAVE_AS_UTF8,
        ) from None


def _check_header(path: Path, text: str, header: list[str], columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in header]
    if not missing:
        return
    first_line = text.partition("\n")[0]
    if not first_line.strip():
        raise ConfigurationError(
            f"{path} is empty: it has no header line.",
            f"The header must name: {', '.join(columns)}.",
        )
    for separator, name in _OTHER_SEPARATORS.items():
        named = {c.strip() for c in first_line.split(separator)}
        if first_line.count(separator) > first_line.count(",") and missing[0] in named:
            raise ConfigurationError(
                f"{path} is separated by {name}, not by commas (Excel does this where the comma "
                "is the decimal separator); nothing was imported.",
                _SAVE_WITH_COMMAS,
            )
    raise ConfigurationError(
        f"{path}: missing column(s) {', '.join(missing)}.",
        f"The header must name: {', '.join(columns)}.",
    )


def _read_rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot read {path}: {exc.strerror}.", "Check the path."
        ) from None
    text = _decode(path, data)
    reader = csv.reader(io.StringIO(text, newline=""))
    done = 0  # the last line of the last record read: the next record starts after it
    try:
        header = [name.strip() for name in next(reader, [])]
        _check_header(path, text, header, columns)
        done = reader.line_num
        for record in reader:
            # A row is named by its first line, even when a quoted value spans several.
            first, done = done + 1, reader.line_num
            if record:  # a blank line is no row
                values = [value.strip() for value in record] + [""] * len(header)
                yield (
                    first,
                    {name: value for name, value in zip(header, values, strict=False) if name},
                )
    except csv.Error as exc:
        raise ConfigurationError(
            f"{path}: line {done + 1}: {_csv_problem(exc)}; nothing was imported.",
            "Fix that line and import the file again.",
        ) from None


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return (
            f"a value is longer than {csv.field_size_limit():,} characters (often a quote "
            "'\"' that is never closed, so the rest of the file is read as one value)"
        )
    if "NUL" in str(exc):
        return "it contains a NUL byte (the file is not text, or not UTF-8)"
    return f"it is not valid CSV ({exc})"


def _checked_row(
    errors: RowErrors, line: int, row: dict[str, str], limits: Mapping[str, int]
) -> bool:
    """Check every value's length and characters before anything else reads it (so no
    message repeats a 100 kB value); False, with the problems recorded, if any is refused."""
    ok = True
    for name, value in row.items():
        try:
            check_one_line(value, name, limits.get(name, SHORT_VALUE_LIMIT))
        except TrainerSyncError as exc:
            errors.add(line, exc.message)
            ok = False
    return ok


def _checked(errors: RowErrors, line: int, check: Callable[..., T], *args: Any) -> T | None:
    """Run one check; record its message against the line instead of stopping."""
    try:
        return check(*args)
    except TrainerSyncError as exc:
        errors.add(line, exc.message)
        return None


# --- trainers ---------------------------------------------------------------------------------


def import_trainers(session: Session, path: Path) -> dict[str, int]:
    """Create or update trainers and their links from CSV; all or nothing."""
    errors = RowErrors(path)
    plans: list[tuple[int, dict[str, object]]] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in _read_rows(path, TRAINER_COLUMNS):
        if not _checked_row(errors, line, row, TRAINER_LIMITS):
            continue
        provider = _checked(errors, line, get_provider, session, row["provider"])
        service = _checked(errors, line, get_service, session, row["service"])
        email = _checked(errors, line, normalise_email, row["email"])
        direction = _checked(errors, line, check_direction, row["direction"])
        calendar = _checked(errors, line, parse_bool, row["calendar"] or "true", "calendar")
        if not row["name"]:
            errors.add(line, "name is empty")
        if provider and service and service.provider_id != provider.id:
            errors.add(line, f"service {service.name!r} is not a service of {provider.name!r}")
        if service and email:
            _checked(errors, line, check_same_domain, service, email)
        if provider and email:
            first = seen.setdefault((provider.name, email), line)
            if first != line:
                errors.add(line, f"{email} appears twice for {provider.name!r} (also line {first})")
        plans.append(
            (
                line,
                dict(
                    provider=provider,
                    service=service,
                    email=email,
                    name=row["name"],
                    direction=direction,
                    calendar=calendar,
                ),
            )
        )
    errors.raise_if_any()

    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for _, plan in plans:
        owner, target = plan["provider"], plan["service"]
        assert isinstance(owner, Provider) and isinstance(target, Service)
        trainer = session.scalar(
            select(Trainer).where(Trainer.provider_id == owner.id, Trainer.email == plan["email"])
        )
        created = trainer is None
        if trainer is None:
            trainer = Trainer(provider_id=owner.id, name=plan["name"], email=plan["email"])
            session.add(trainer)
            session.flush()
        before = _trainer_settings(trainer)
        trainer.name = str(plan["name"])
        link_trainer(session, target, trainer, str(plan["direction"]), bool(plan["calendar"]))
        if created:
            counts["created"] += 1
        elif _trainer_settings(trainer) != before:
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    return counts


def _trainer_settings(trainer: Trainer) -> tuple[object, ...]:
    """What a trainers file sets on a trainer: a re-import that changes none of it is no update."""
    link = trainer.link
    if link is None:
        return (trainer.name,)
    return (trainer.name, link.service_id, link.direction, link.calendar_enabled, link.mailbox)


# --- training events ---------------------------------------------------------------------------


@dataclass
class _EventRows:
    fields: dict[str, str | None]
    sessions: list[tuple[datetime, datetime]] = field(default_factory=list)
    trainer_emails: set[str] = field(default_factory=set)
    first_line: int = 0


_EVENT_FIELDS = (
    "course",
    "venue",
    "venue_address",
    "status",
    "event_url",
    "delegate_instructions_url",
    "trainer_instructions_url",
)


def _parse_event_rows(
    session: Session, provider: Provider, path: Path
) -> tuple[dict[str, _EventRows], dict[str, Trainer]]:
    errors = RowErrors(path)
    events: dict[str, _EventRows] = {}
    trainers = {
        t.email: t
        for t in session.scalars(select(Trainer).where(Trainer.provider_id == provider.id))
    }
    for line, row in _read_rows(path, EVENT_COLUMNS):
        if not _checked_row(errors, line, row, EVENT_LIMITS):
            continue
        ref = row["event_ref"]
        if not ref:
            errors.add(line, "event_ref is empty")
            continue
        if not row["course"]:
            errors.add(line, "course is empty")
        status = row["status"].lower() or "scheduled"
        if status not in EVENT_STATUSES:
            errors.add(line, f"status {row['status']!r} is not one of {', '.join(EVENT_STATUSES)}")
        start = _checked(errors, line, parse_aware_time, row["session_start"], "session_start")
        end = _checked(errors, line, parse_aware_time, row["session_end"], "session_end")
        if start and end:
            _checked(errors, line, check_period, start, end, "session")
        for name in URL_COLUMNS:
            if row[name]:
                _checked(errors, line, check_web_url, row[name], name)
        fields: dict[str, str | None] = {k: (row[k] or None) for k in _EVENT_FIELDS}
        fields["status"] = status
        event = events.setdefault(ref, _EventRows(fields=fields, first_line=line))
        for key in _EVENT_FIELDS:
            if event.fields[key] != fields[key]:
                errors.add(
                    line,
                    f"{key} of event {ref!r} differs from line {event.first_line} "
                    f"({shown(fields[key] or '')} vs {shown(event.fields[key] or '')})",
                )
        for raw in filter(None, (e.strip() for e in row["trainer_emails"].split(";"))):
            email = _checked(errors, line, normalise_email, raw, "trainer_emails")
            if email and email not in trainers:
                errors.add(line, f"trainer {email} is not a trainer of {provider.name!r}")
            elif email:
                event.trainer_emails.add(email)
        if start and end and end > start:
            if (start, end) in event.sessions:
                errors.add(line, f"session {start.isoformat()} of event {ref!r} is listed twice")
            event.sessions.append((start, end))
    errors.raise_if_any()
    return events, trainers


def _get_or_create(session: Session, model: type[Named], provider: Provider, name: str) -> Named:
    found = session.scalar(
        select(model).where(model.provider_id == provider.id, model.name == name)
    )
    if found is None:
        found = model(provider_id=provider.id, name=name)
        session.add(found)
        session.flush()
    return found


def _sync_sessions(
    session: Session, event: TrainingEvent, wanted: Iterable[tuple[datetime, datetime]]
) -> int:
    """Make the event's sessions equal `wanted`, updating in place where a session moved.

    The file has no session id, so identical times match first, then the remaining old
    and new sessions pair up in time order (a rescheduled session keeps its identity and
    so its Outlook item); leftovers are created or removed.
    """
    wanted_left = sorted(set(wanted))
    existing_left = []
    for existing in sorted(event.sessions, key=lambda s: (s.start, s.end)):
        if (existing.start, existing.end) in wanted_left:
            wanted_left.remove((existing.start, existing.end))
        else:
            existing_left.append(existing)
    changes = 0
    for existing, (start, end) in zip(existing_left, wanted_left, strict=False):
        existing.start, existing.end = start, end
        changes += 1
    for existing in existing_left[len(wanted_left) :]:
        session.delete(existing)
        changes += 1
    for start, end in wanted_left[len(existing_left) :]:
        event.sessions.append(EventSession(start=start, end=end))
        changes += 1
    return changes


def import_events(session: Session, provider: Provider, path: Path) -> dict[str, int]:
    """Create or update training events, their sessions and trainers from CSV; all or nothing.

    Re-importing the same file changes nothing; a changed row updates its event in place.
    """
    events, trainers = _parse_event_rows(session, provider, path)
    counts = {"events_created": 0, "events_updated": 0, "sessions_changed": 0}
    for ref, rows in events.items():
        course = _get_or_create(session, Course, provider, rows.fields["course"] or "")
        venue = None
        if rows.fields["venue"]:
            venue = _get_or_create(session, Venue, provider, rows.fields["venue"])
            if rows.fields["venue_address"] and venue.address != rows.fields["venue_address"]:
                venue.address = rows.fields["venue_address"]
        event = session.scalar(
            select(TrainingEvent).where(
                TrainingEvent.provider_id == provider.id, TrainingEvent.ref == ref
            )
        )
        created = event is None
        if event is None:
            event = TrainingEvent(provider_id=provider.id, ref=ref, course_id=course.id)
            session.add(event)
        values = {
            "course_id": course.id,
            "venue_id": venue.id if venue else None,
            "status": rows.fields["status"],
            "event_url": rows.fields["event_url"],
            "delegate_instructions_url": rows.fields["delegate_instructions_url"],
            "trainer_instructions_url": rows.fields["trainer_instructions_url"],
        }
        changed = False
        for key, value in values.items():
            if getattr(event, key) != value:
                setattr(event, key, value)
                changed = True
        session.flush()
        sessions_changed = _sync_sessions(session, event, rows.sessions)
        assigned = {a.trainer_id for a in event.assignments}
        wanted = {trainers[email].id for email in rows.trainer_emails}
        if assigned != wanted:
            event.assignments = [a for a in event.assignments if a.trainer_id in wanted] + [
                EventTrainer(trainer_id=tid) for tid in sorted(wanted - assigned)
            ]
            changed = True
        counts["sessions_changed"] += sessions_changed
        if created:
            counts["events_created"] += 1
        elif changed or sessions_changed:
            counts["events_updated"] += 1
    session.flush()
    return counts
