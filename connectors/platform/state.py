"""Sync state in the platform store: item links, change-gate cursors, run history, mirrors.

These are the writes the engine makes on the platform side. Each function works inside the
caller's transaction, so a trainer's platform changes and their history commit together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from connectors.platform.calendar import UNAVAILABILITY_PREFIX
from connectors.platform.models import (
    ItemLink,
    Provider,
    SyncChange,
    SyncRun,
    Trainer,
    TrainerClash,
    TrainerCursor,
    TrainerHealth,
    TrainerLink,
    Unavailability,
    utcnow,
)
from sync_rules.clashes import CLASH_COLUMNS, KNOWN_COLUMNS
from sync_rules.health import Health
from sync_rules.tamper import OVERRIDE_REASONS

MIRROR_TITLE = "Unavailable"


# --- item links --------------------------------------------------------------------------------


def forget_sync_state(session: Session, trainer_ids: list[int]) -> None:
    """Drop the change-gate cursors of these trainers, so their next sync reads their whole
    mailbox again rather than trusting a sync state of another connection."""
    if trainer_ids:
        session.execute(delete(TrainerCursor).where(TrainerCursor.trainer_id.in_(trainer_ids)))


def forget_mailbox(session: Session, trainer: Trainer) -> None:
    """A trainer's calendar now lives in another mailbox: its item links point at items of the
    old one. They are dropped; the next sync writes each entry into the new mailbox under the
    same entry key in the tag, adopting items already tagged there (e.g. moved with the
    mailbox) instead of duplicating them. The old mailbox's items are left as they are."""
    session.execute(delete(ItemLink).where(ItemLink.trainer_id == trainer.id))
    forget_sync_state(session, [trainer.id])


def forget_connection(session: Session, trainer: Trainer) -> None:
    """Same mailbox, another service: item links stay (the tag re-adopts items whose ids
    differ between APIs); only the sync state of the old connection goes."""
    forget_sync_state(session, [trainer.id])


def load_links(session: Session, trainer_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The engine's item links of these trainers, as rows of the link-state frame."""
    rows = session.execute(
        select(
            ItemLink.trainer_id,
            ItemLink.entry_key,
            ItemLink.item_id,
            ItemLink.change_key,
            ItemLink.content_hash,
        ).where(ItemLink.trainer_id.in_(list(trainer_ids)))
    )
    return [dict(row._mapping) for row in rows]


def save_links(session: Session, trainer_id: int, written: Sequence[Mapping[str, Any]]) -> None:
    """Record what was just written to Exchange: upsert links, drop those of deleted items.

    Each element has `entry_key`, `action` and, unless deleted, `item_id`, `change_key` and
    `content_hash`.
    """
    existing = {
        link.entry_key: link
        for link in session.scalars(select(ItemLink).where(ItemLink.trainer_id == trainer_id))
    }
    for change in written:
        key = change["entry_key"]
        link = existing.get(key)
        if change["action"] == "delete":
            # A deleted duplicate leaves the kept item's link alone.
            if link is not None and link.item_id == change.get("item_id"):
                session.delete(link)
                existing.pop(key)
            continue
        if link is None:
            link = ItemLink(trainer_id=trainer_id, entry_key=key)
            session.add(link)
            existing[key] = link
        link.item_id = change["item_id"]
        link.change_key = change.get("change_key")
        link.content_hash = change["content_hash"]
    session.flush()


# --- change-gate cursors ----------------------------------------------------------------------


def load_cursors(session: Session, trainer_ids: Iterable[int]) -> dict[int, TrainerCursor]:
    return {
        c.trainer_id: c
        for c in session.scalars(
            select(TrainerCursor).where(TrainerCursor.trainer_id.in_(list(trainer_ids)))
        )
    }


def _cursor_row(session: Session, trainer_id: int) -> TrainerCursor:
    cursor = session.get(TrainerCursor, trainer_id)
    if cursor is None:
        cursor = TrainerCursor(trainer_id=trainer_id)
        session.add(cursor)
    return cursor


def save_cursor(
    session: Session,
    trainer_id: int,
    exchange_sync_state: str | None = None,
    platform_fingerprint: str | None = None,
    read_valid_until: datetime | None = None,
) -> None:
    """Store a trainer's cursors; a None argument leaves that cursor as it was."""
    cursor = _cursor_row(session, trainer_id)
    if exchange_sync_state is not None:
        cursor.exchange_sync_state = exchange_sync_state
    if platform_fingerprint is not None:
        cursor.platform_fingerprint = platform_fingerprint
    if read_valid_until is not None:
        cursor.read_valid_until = read_valid_until
    cursor.updated_at = utcnow()
    session.flush()


def save_access(
    session: Session, trainer_id: int, direction: str, ok: bool, message: str | None, at: datetime
) -> None:
    """Remember a permission check, so a passed one need not be repeated every cycle."""
    cursor = _cursor_row(session, trainer_id)
    cursor.access_checked_at = at
    cursor.access_direction = direction
    cursor.access_ok = ok
    cursor.access_message = message
    session.flush()


# --- inbound mirrors ---------------------------------------------------------------------------


def apply_mirror_changes(
    session: Session, trainer_id: int, actions: Sequence[Mapping[str, Any]]
) -> None:
    """Create, move or delete a trainer's exchange-origin "Unavailable" blocks.

    Only start, end and all-day are ever copied; a mirror carries no subject or details.
    """
    for action in actions:
        kind = action["action"]
        if kind == "create":
            session.add(
                Unavailability(
                    trainer_id=trainer_id,
                    start=action["start"],
                    end=action["end"],
                    all_day=bool(action["all_day"]),
                    origin="exchange",
                    source_item_id=action["source_item_id"],
                )
            )
            continue
        mirror_id = int(str(action["entry_key"]).removeprefix(UNAVAILABILITY_PREFIX))
        mirror = session.get(Unavailability, mirror_id)
        if mirror is None or mirror.trainer_id != trainer_id or mirror.origin != "exchange":
            continue  # already gone: deleting or moving it again is a no-op
        if kind == "delete":
            session.delete(mirror)
        else:
            mirror.start, mirror.end = action["start"], action["end"]
            mirror.all_day = bool(action["all_day"])
    session.flush()


# --- health across runs ------------------------------------------------------------------------

_HEALTH_FIELDS = (
    "last_status",
    "last_run_at",
    "last_success_at",
    "failures_in_a_row",
    "last_error",
)


def load_health(session: Session, trainer_ids: Iterable[int]) -> dict[int, Health]:
    """The stored health of these trainers (those with none have never been synced)."""
    rows = session.scalars(
        select(TrainerHealth).where(TrainerHealth.trainer_id.in_(list(trainer_ids)))
    )
    return {r.trainer_id: Health(**{f: getattr(r, f) for f in _HEALTH_FIELDS}) for r in rows}


def save_health(session: Session, healths: Mapping[int, Health], flow_run_id: str | None) -> None:
    """Store the trainers' health after a run: two statements whatever their number (an
    update of the known trainers, an insert of the new ones)."""
    if not healths:
        return
    known = set(
        session.scalars(
            select(TrainerHealth.trainer_id).where(TrainerHealth.trainer_id.in_(list(healths)))
        )
    )
    rows = [
        {"trainer_id": tid, "last_flow_run_id": flow_run_id,
         **{f: getattr(h, f) for f in _HEALTH_FIELDS}}
        for tid, h in healths.items()
    ]  # fmt: skip
    updates = [r for r in rows if r["trainer_id"] in known]
    inserts = [r for r in rows if r["trainer_id"] not in known]
    if updates:
        session.execute(update(TrainerHealth), updates)
    if inserts:
        session.execute(insert(TrainerHealth), inserts)
    session.flush()


# --- clashes ------------------------------------------------------------------------------------


def load_clashes(session: Session, trainer_ids: Iterable[int]) -> list[dict[str, Any]]:
    """Every stored clash of these trainers, resolved ones included (`clashes.KNOWN_COLUMNS`)."""
    columns = [getattr(TrainerClash, name) for name in KNOWN_COLUMNS]
    rows = session.execute(select(*columns).where(TrainerClash.trainer_id.in_(list(trainer_ids))))
    return [dict(row._mapping) for row in rows]


def save_clashes(
    session: Session,
    new: Sequence[Mapping[str, Any]],
    ongoing: Sequence[Mapping[str, Any]],
    resolved: Sequence[int],
    at: datetime,
) -> None:
    """Store what a run found (as `clashes.reconcile` sorted it): first-seen clashes are
    added (a resolved row of the same clash is reopened), ongoing ones take their current
    times and `last_seen_at`, gone ones get `resolved_at`. Four statements at most, whatever
    the number of clashes, in the caller's transaction."""
    fields = [name for name in CLASH_COLUMNS if name != "trainer_id"]
    seen = {"last_seen_at": at, "resolved_at": None}
    first = [{**{f: c[f] for f in ("trainer_id", *fields)}, "first_seen_at": at, **seen}
             for c in new]  # fmt: skip
    inserts = [row for row, c in zip(first, new, strict=True) if c.get("id") is None]
    reopened = [{**row, "id": c["id"]} for row, c in zip(first, new, strict=True)
                if c.get("id") is not None]  # fmt: skip
    updates = reopened + [{"id": c["id"], **{f: c[f] for f in fields}, **seen} for c in ongoing]
    if inserts:
        session.execute(insert(TrainerClash), inserts)
    if updates:
        session.execute(update(TrainerClash), updates)
    if resolved:
        session.execute(
            update(TrainerClash)
            .where(TrainerClash.id.in_(list(resolved)))
            .values(resolved_at=at)
            .execution_options(synchronize_session=False)
        )
    session.flush()


def list_clashes(
    session: Session, provider: Provider | None = None, resolved: bool = False
) -> list[dict[str, Any]]:
    """The clashes of linked trainers (of one provider), earliest session first: the
    unresolved ones, or with `resolved` those too; for `trainer-sync report clashes`."""
    query = (
        select(TrainerClash, Trainer.email, Provider.name, Provider.timezone)
        .join(Trainer, Trainer.id == TrainerClash.trainer_id)
        .join(TrainerLink, TrainerLink.trainer_id == Trainer.id)
        .join(Provider, Provider.id == Trainer.provider_id)
        .order_by(TrainerClash.session_start, Trainer.email, TrainerClash.busy_start,
                  TrainerClash.id)
    )  # fmt: skip
    if provider is not None:
        query = query.where(Trainer.provider_id == provider.id)
    if not resolved:
        query = query.where(TrainerClash.resolved_at.is_(None))
    shown = [n for n in KNOWN_COLUMNS if n not in ("id", "trainer_id", "item_id")]
    return [
        {"provider": name, "timezone": zone, "trainer": email,
         **{n: getattr(clash, n) for n in shown}}
        for clash, email, name, zone in session.execute(query)
    ]  # fmt: skip


# --- run history -------------------------------------------------------------------------------


def start_run(
    session: Session,
    provider_id: int,
    trainer_id: int | None,
    flow_run_id: str | None,
    started_at: datetime | None = None,
) -> SyncRun:
    """A history row for a run (of a provider, or of one of its trainers) that began at
    `started_at` (now, when not given)."""
    run = SyncRun(
        provider_id=provider_id,
        trainer_id=trainer_id,
        flow_run_id=flow_run_id,
        status="running",
        started_at=started_at or utcnow(),
    )
    session.add(run)
    session.flush()
    return run


def finish_run(
    session: Session,
    run_id: int,
    status: str,
    counts: Mapping[str, Any] | None = None,
    error: str | None = None,
    finished_at: datetime | None = None,
) -> None:
    run = session.get(SyncRun, run_id)
    if run is None:
        return
    run.status = status
    run.counts = dict(counts) if counts else None
    run.error = error
    run.finished_at = finished_at or utcnow()
    session.flush()


def record_changes(session: Session, run_id: int, changes: Iterable[Mapping[str, Any]]) -> int:
    """Append change rows (trainer, side, action, reason, keys, summary, held, outcome, and
    for an edit in Outlook the fields it changed and who saved it when)."""
    fields = ("trainer_id", "side", "action", "reason", "entry_key", "item_id", "summary")
    rows = [
        SyncChange(
            run_id=run_id,
            held=bool(change.get("held", False)),
            outcome=str(change.get("outcome", "applied")),
            **{f: change.get(f) for f in fields},
            **{f: _present(change.get(f)) for f in ("changed_fields", "modified_by")},
            modified_at=_instant(change.get("modified_at")),
        )
        for change in changes
    ]
    session.add_all(rows)
    session.flush()
    return len(rows)


def _present(value: Any) -> Any:
    """None for a missing value of a plan row (NaN, NaT, pandas' NA), else the value."""
    return None if value is None or pd.isna(value) else value


def _instant(value: Any) -> datetime | None:
    """A plan row's time as a datetime the store takes (None when missing)."""
    present = _present(value)
    return None if present is None else pd.Timestamp(present).to_pydatetime()


def last_results(session: Session, provider: Provider | None = None) -> list[dict[str, Any]]:
    """Each linked trainer's health and most recent run with changes, for `trainer-sync
    status`: its status in the latest run (idle ones included), failures in a row, last
    success, the counts and error of its latest run that left history, and how many
    unresolved clashes it has."""
    latest = (
        select(SyncRun.trainer_id, SyncRun.id)
        .where(SyncRun.trainer_id.is_not(None))
        .order_by(SyncRun.trainer_id, SyncRun.started_at.desc(), SyncRun.id.desc())
    )
    newest: dict[int, int] = {}
    for trainer_id, run_id in session.execute(latest):
        if trainer_id is not None:
            newest.setdefault(trainer_id, run_id)
    query = (
        select(Trainer, TrainerLink, Provider, TrainerHealth)
        .join(TrainerLink, TrainerLink.trainer_id == Trainer.id)
        .join(Provider, Provider.id == Trainer.provider_id)
        .outerjoin(TrainerHealth, TrainerHealth.trainer_id == Trainer.id)
        .order_by(Provider.name, Trainer.email)
    )
    if provider is not None:
        query = query.where(Trainer.provider_id == provider.id)
    runs = {
        r.id: r for r in session.scalars(select(SyncRun).where(SyncRun.id.in_(newest.values())))
    }
    open_clashes = (
        select(TrainerClash.trainer_id, func.count())
        .where(TrainerClash.resolved_at.is_(None))
        .group_by(TrainerClash.trainer_id)
    )
    clashes = {trainer_id: count for trainer_id, count in session.execute(open_clashes)}
    results = []
    for trainer, link, prov, health in session.execute(query):
        run = runs.get(newest.get(trainer.id, -1))
        status = health.last_status if health else run.status if run else "never synced"
        results.append(
            {
                "provider": prov.name,
                "trainer": trainer.email,
                "direction": link.direction,
                "calendar": link.calendar_enabled,
                "status": status,
                "failures_in_a_row": health.failures_in_a_row if health else 0,
                "last_success": health.last_success_at if health else None,
                "finished_at": health.last_run_at if health else run.finished_at if run else None,
                "counts": run.counts if run else None,
                "error": (health.last_error if health else run.error if run else None),
                "clashes": clashes.get(trainer.id, 0),
                "flow_run_id": (
                    health.last_flow_run_id if health else run.flow_run_id if run else None
                ),
            }
        )
    return results


def change_history(
    session: Session,
    trainer: Trainer | None = None,
    limit: int = 50,
    flow_run_id: str | None = None,
) -> list[dict[str, Any]]:
    """The newest changes with their reasons and runs (of one trainer, of one Prefect flow
    run), for `trainer-sync history`."""
    query = (
        select(SyncChange, SyncRun.flow_run_id, Trainer.email)
        .join(SyncRun, SyncRun.id == SyncChange.run_id)
        .join(Trainer, Trainer.id == SyncChange.trainer_id)
        .order_by(SyncChange.created_at.desc(), SyncChange.id.desc())
        .limit(limit)
    )
    if trainer is not None:
        query = query.where(SyncChange.trainer_id == trainer.id)
    if flow_run_id is not None:
        query = query.where(SyncRun.flow_run_id == flow_run_id)
    return [
        {
            "at": change.created_at,
            "trainer": email,
            "side": change.side,
            "action": change.action,
            "reason": change.reason,
            "held": change.held,
            "outcome": change.outcome,
            "entry_key": change.entry_key,
            "item_id": change.item_id,
            "summary": change.summary,
            "changed_fields": change.changed_fields,
            "modified_by": change.modified_by,
            "modified_at": change.modified_at,
            "flow_run_id": flow_run_id,
        }
        for change, flow_run_id, email in session.execute(query)
    ]


def overrides_since(
    session: Session, since: datetime, provider: Provider | None = None
) -> list[dict[str, Any]]:
    """The applied or held changes since `since` that undid a trainer's edit or deletion in
    Outlook (sync_rules.tamper.OVERRIDE_REASONS), with trainer, provider and modifier, for the
    tamper report; a dry run records none, so none is counted."""
    query = (
        select(SyncChange, Trainer.email, Provider.name)
        .join(Trainer, Trainer.id == SyncChange.trainer_id)
        .join(Provider, Provider.id == Trainer.provider_id)
        .where(
            SyncChange.created_at >= since,
            SyncChange.side == "exchange",
            SyncChange.reason.in_(OVERRIDE_REASONS),
        )
        .order_by(SyncChange.created_at, SyncChange.id)
    )
    if provider is not None:
        query = query.where(Trainer.provider_id == provider.id)
    return [
        {
            "provider": name,
            "trainer": email,
            "at": change.created_at,
            "reason": change.reason,
            "outcome": change.outcome,
            "changed_fields": change.changed_fields,
            "modified_by": change.modified_by,
            "modified_at": change.modified_at,
        }
        for change, email, name in session.execute(query)
    ]
