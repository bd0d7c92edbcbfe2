"""Training events after their import: finding, showing, cancelling and removing them.

Cancelling or removing an event takes its sessions off every assigned trainer's platform
calendar; the next sync deletes their Outlook items (the engine's own, found by item link or
tag), because their entries no longer exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.platform.calendar import SESSION_PREFIX
from connectors.platform.models import ItemLink, Provider, TrainingEvent
from connectors.platform.state import last_results
from sync_rules.errors import ConfigurationError


def list_events(session: Session, provider: Provider | None = None) -> list[TrainingEvent]:
    query = select(TrainingEvent).order_by(TrainingEvent.provider_id, TrainingEvent.ref)
    if provider is not None:
        query = query.where(TrainingEvent.provider_id == provider.id)
    return list(session.scalars(query))


def find_event(session: Session, ref: str, provider: Provider | None = None) -> TrainingEvent:
    """The event with this ref (within `provider`, when given)."""
    query = select(TrainingEvent).where(TrainingEvent.ref == ref.strip())
    if provider is not None:
        query = query.where(TrainingEvent.provider_id == provider.id)
    found = list(session.scalars(query))
    if not found:
        where = f" in provider {provider.name!r}" if provider else ""
        raise ConfigurationError(
            f"Unknown event {ref!r}{where}.",
            "See `trainer-sync events list`, or import it with `trainer-sync events import`.",
        )
    if len(found) > 1:
        raise ConfigurationError(
            f"Event {ref!r} exists in several providers.", "Say which with --provider NAME."
        )
    return found[0]


def outlook_state(session: Session, event: TrainingEvent) -> list[dict[str, Any]]:
    """Per session and assigned trainer: whether the engine keeps an Outlook item for it, from
    the item links and the trainer's last sync."""
    trainers = [a.trainer for a in event.assignments]
    keys = {f"{SESSION_PREFIX}{s.id}" for s in event.sessions}
    links = {
        (link.trainer_id, link.entry_key): link
        for link in session.scalars(
            select(ItemLink).where(
                ItemLink.trainer_id.in_([t.id for t in trainers]), ItemLink.entry_key.in_(keys)
            )
        )
    }
    last = {r["trainer"]: r for r in last_results(session, event_provider(session, event))}
    rows = []
    for sitting in event.sessions:
        key = f"{SESSION_PREFIX}{sitting.id}"
        for trainer in sorted(trainers, key=lambda t: t.email):
            link = links.get((trainer.id, key))
            rows.append(
                {
                    "session": key,
                    "start": sitting.start,
                    "end": sitting.end,
                    "trainer": trainer.email,
                    "outlook": _state(trainer.link, link is not None, event.status),
                    "item_id": link.item_id if link else None,
                    "last_sync": last[trainer.email]["status"] if trainer.email in last else None,
                }
            )
    return rows


def event_provider(session: Session, event: TrainingEvent) -> Provider:
    provider = session.get(Provider, event.provider_id)
    assert provider is not None  # a foreign key
    return provider


def _state(link: Any, has_item: bool, status: str) -> str:
    if link is None:
        return "not linked" + (" (an item from an earlier link may remain)" if has_item else "")
    if link.direction == "in" or not link.calendar_enabled:
        return "not pushed (direction in)" if link.direction == "in" else "calendar off"
    if status == "cancelled":
        return "to be deleted by the next sync" if has_item else "none (cancelled)"
    return "in Outlook" if has_item else "not yet synced"


def cancel_event(event: TrainingEvent) -> None:
    if event.status == "cancelled":
        raise ConfigurationError(f"Event {event.ref!r} is already cancelled.", "Nothing to do.")
    event.status = "cancelled"


def remove_event(session: Session, event: TrainingEvent) -> None:
    session.delete(event)  # its sessions and assignments go with it (ORM cascade)
    session.flush()
