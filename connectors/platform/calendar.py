"""The platform calendar: unavailability, a trainer's calendar view, and the extraction queries.

The extraction returns plain rows shaped like `sync_rules`' platform frame, for every linked
trainer of a provider at once: two queries per provider, never one per trainer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session

from connectors.platform.models import (
    MAX_ROW_ID,
    Course,
    EventSession,
    EventTrainer,
    Trainer,
    TrainerLink,
    TrainingEvent,
    Unavailability,
    Venue,
)
from connectors.platform.parsing import check_one_line, check_period, column_length
from sync_rules.errors import ConfigurationError
from sync_rules.render import all_day_bounds
from sync_rules.rules import load_rules

SESSION_PREFIX = "session:"
UNAVAILABILITY_PREFIX = "unavailability:"


def add_unavailability(
    session: Session,
    trainer: Trainer,
    start: datetime,
    end: datetime,
    all_day: bool = False,
    reason: str | None = None,
) -> Unavailability:
    """Record a platform-origin unavailability block for a trainer."""
    check_period(start, end, "unavailability")
    if reason is not None:
        check_one_line(reason, "reason", column_length(Unavailability.reason))
    _refuse_duplicate(session, trainer, start, end)
    row = Unavailability(
        trainer_id=trainer.id,
        start=start,
        end=end,
        all_day=all_day,
        reason=reason,
        origin="platform",
    )
    session.add(row)
    session.flush()
    return row


def _refuse_duplicate(session: Session, trainer: Trainer, start: datetime, end: datetime) -> None:
    same = session.scalar(
        select(Unavailability).where(
            Unavailability.trainer_id == trainer.id,
            Unavailability.origin == "platform",
            Unavailability.start == start,
            Unavailability.end == end,
        )
    )
    if same is not None:
        raise ConfigurationError(
            f"{trainer.email} is already unavailable from {start.isoformat()} to "
            f"{end.isoformat()} (unavailability:{same.id}).",
            "Nothing to add; see `trainer-sync unavailability list --trainer "
            f"{trainer.email}`, or remove it with `trainer-sync unavailability remove {same.id}`.",
        )


def list_unavailability(
    session: Session, trainers: Sequence[Trainer], since: datetime | None = None
) -> list[tuple[Unavailability, Trainer]]:
    """The unavailability of these trainers (of any origin), by time; from `since` on."""
    by_id = {t.id: t for t in trainers}
    query = (
        select(Unavailability)
        .where(Unavailability.trainer_id.in_(list(by_id)))
        .order_by(Unavailability.start, Unavailability.id)
    )
    if since is not None:
        query = query.where(Unavailability.end > since)
    return [(row, by_id[row.trainer_id]) for row in session.scalars(query)]


def remove_unavailability(session: Session, row_id: int) -> Unavailability:
    """Delete a platform-origin block; the next sync removes its Outlook item (direction out)."""
    # Ids are 64-bit integers in the store: a larger number names no row (and no query).
    row = session.get(Unavailability, row_id) if 0 < row_id <= MAX_ROW_ID else None
    if row is None:
        raise ConfigurationError(
            f"Unknown unavailability:{row_id}.", "See `trainer-sync unavailability list`."
        )
    if row.origin != "platform":
        raise ConfigurationError(
            f"unavailability:{row_id} mirrors an appointment in the trainer's Outlook calendar; "
            "the next sync would bring it back.",
            "Delete or move the appointment in Outlook, or link the trainer with --direction "
            "out (`trainer-sync trainer link`) so Outlook no longer blocks the platform.",
        )
    session.delete(row)
    session.flush()
    return row


def add_all_day_unavailability(
    session: Session, trainer: Trainer, first_day: date, day_after_last: date, reason: str | None
) -> Unavailability:
    """Record whole days of platform-origin unavailability: from local midnight of
    `first_day` to local midnight of `day_after_last`, in the zone the provider's rules render
    all-day entries in, so exactly those days reach Outlook."""
    if day_after_last <= first_day:
        raise ConfigurationError(
            f"The all-day block ends ({day_after_last}) on or before its first day ({first_day}).",
            "Give as --end the day after the last day, e.g. --start 2027-07-05 --end 2027-07-06 "
            "for 5 July.",
        )
    zone = load_rules(overrides=trainer.provider.rules or None).timezone
    start, end = all_day_bounds(first_day, day_after_last - timedelta(days=1), zone)
    return add_unavailability(
        session, trainer, start.to_pydatetime(), end.to_pydatetime(), True, reason
    )


def _session_rows() -> Select[*tuple[Any, ...]]:
    """Sessions of scheduled events, one row per assigned trainer, as platform-frame fields."""
    return (
        select(
            EventTrainer.trainer_id,
            EventSession.id.label("entry_id"),
            EventSession.start,
            EventSession.end,
            Course.name.label("course"),
            Venue.name.label("venue"),
            Venue.address.label("venue_address"),
            TrainingEvent.ref.label("event_ref"),
            TrainingEvent.event_url,
            TrainingEvent.delegate_instructions_url,
            TrainingEvent.trainer_instructions_url,
        )
        .join(TrainingEvent, TrainingEvent.id == EventSession.event_id)
        .join(EventTrainer, EventTrainer.event_id == TrainingEvent.id)
        .join(Course, Course.id == TrainingEvent.course_id)
        .outerjoin(Venue, Venue.id == TrainingEvent.venue_id)
        .where(TrainingEvent.status == "scheduled")
    )


def _unavailability_rows() -> Select[*tuple[Any, ...]]:
    return select(
        Unavailability.trainer_id,
        Unavailability.id.label("entry_id"),
        Unavailability.start,
        Unavailability.end,
        Unavailability.all_day,
        Unavailability.reason,
        Unavailability.origin,
        Unavailability.source_item_id,
    )


def _sessions_in(window: tuple[datetime, datetime]) -> Select[*tuple[Any, ...]]:
    start, end = window
    return _session_rows().where(EventSession.start < end, EventSession.end > start)


def _unavailability_in(window: tuple[datetime, datetime]) -> Select[*tuple[Any, ...]]:
    start, end = window
    return _unavailability_rows().where(Unavailability.start < end, Unavailability.end > start)


def _session_record(row: Any) -> dict[str, Any]:
    return {
        "trainer_id": row.trainer_id,
        "entry_key": f"{SESSION_PREFIX}{row.entry_id}",
        "kind": "session",
        "origin": "platform",
        "start": row.start,
        "end": row.end,
        "all_day": False,
        "course": row.course,
        "venue": row.venue,
        "venue_address": row.venue_address,
        "event_ref": row.event_ref,
        "event_url": row.event_url,
        "delegate_instructions_url": row.delegate_instructions_url,
        "trainer_instructions_url": row.trainer_instructions_url,
        "reason": None,
        "source_item_id": None,
    }


def _unavailability_record(row: Any) -> dict[str, Any]:
    return {
        "trainer_id": row.trainer_id,
        "entry_key": f"{UNAVAILABILITY_PREFIX}{row.entry_id}",
        "kind": "unavailability",
        "origin": row.origin,
        "start": row.start,
        "end": row.end,
        "all_day": row.all_day,
        "course": None,
        "venue": None,
        "venue_address": None,
        "event_ref": None,
        "event_url": None,
        "delegate_instructions_url": None,
        "trainer_instructions_url": None,
        "reason": row.reason,
        "source_item_id": row.source_item_id,
    }


def extract_entries(
    session: Session, provider_id: int, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Every platform entry of the provider's linked trainers overlapping [start, end).

    Sessions of scheduled events (one row per assigned trainer) and unavailability of any
    origin, as plain rows in the platform frame's columns. Two queries, whatever the size.
    """
    window = (start, end)
    linked = (
        select(Trainer.id)
        .join(TrainerLink, TrainerLink.trainer_id == Trainer.id)
        .where(Trainer.provider_id == provider_id)
    )
    sessions = session.execute(
        _sessions_in(window).where(EventTrainer.trainer_id.in_(linked))
    ).all()
    blocks = session.execute(
        _unavailability_in(window).where(Unavailability.trainer_id.in_(linked))
    ).all()
    return [_session_record(r) for r in sessions] + [_unavailability_record(r) for r in blocks]


def trainer_calendar(
    session: Session, trainer: Trainer, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """One trainer's platform calendar in [start, end), sessions and unavailability, by time."""
    window = (start, end)
    sessions = session.execute(
        _sessions_in(window).where(EventTrainer.trainer_id == trainer.id)
    ).all()
    blocks = session.execute(
        _unavailability_in(window).where(Unavailability.trainer_id == trainer.id)
    ).all()
    rows = [_session_record(r) for r in sessions] + [_unavailability_record(r) for r in blocks]
    return sorted(rows, key=lambda r: (r["start"], r["entry_key"]))


def entries_by_key(session: Session, keys: Iterable[tuple[int, str]]) -> list[dict[str, Any]]:
    """Of the given (trainer_id, entry_key) pairs, the entries that still exist for that
    trainer, wherever they lie in time, as platform-frame rows.

    A session counts while its event is scheduled and the trainer is still assigned; an
    unavailability row while it exists for that trainer. The outbound rules use this to tell
    "removed from the platform" from "moved outside the window", and to move an item with its
    entry. Two queries at most.
    """
    wanted = set(keys)
    sessions = {
        (t, int(k.removeprefix(SESSION_PREFIX))) for t, k in wanted if k.startswith(SESSION_PREFIX)
    }
    blocks = {
        (t, int(k.removeprefix(UNAVAILABILITY_PREFIX)))
        for t, k in wanted
        if k.startswith(UNAVAILABILITY_PREFIX)
    }
    rows: list[dict[str, Any]] = []
    if sessions:
        found = session.execute(
            _session_rows().where(
                tuple_(EventTrainer.trainer_id, EventSession.id).in_(sorted(sessions))
            )
        )
        rows += [_session_record(r) for r in found]
    if blocks:
        found = session.execute(
            _unavailability_rows().where(
                tuple_(Unavailability.trainer_id, Unavailability.id).in_(sorted(blocks))
            )
        )
        rows += [_unavailability_record(r) for r in found]
    return rows


def mirrors_of_items(session: Session, items: Iterable[tuple[int, str]]) -> list[dict[str, Any]]:
    """Of the given (trainer_id, Exchange item id) pairs, the trainer's "Unavailable" mirrors
    of those items, wherever they lie in time, as platform-frame rows.

    A mirror left outside the window (its item lay there when it was last seen) is the
    item's mirror still: when the item comes back into the window, the inbound rules move
    that mirror rather than make a second one beside it. One query.
    """
    wanted = sorted(set(items))
    if not wanted:
        return []
    found = session.execute(
        _unavailability_rows().where(
            Unavailability.origin == "exchange",
            tuple_(Unavailability.trainer_id, Unavailability.source_item_id).in_(wanted),
        )
    )
    return [_unavailability_record(r) for r in found]
