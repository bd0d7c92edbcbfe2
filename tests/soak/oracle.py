"""What every trainer's two calendars must be after a clean sync, checked from the outside.

The expectations come from the store's rows (queried here, not through the product's
extraction) and from the world's own record of each trainer's appointments; only the
rendering of an entry's Outlook fields is the product's (`render_entries`, tested on its own).

- **out / both**: one tagged item in the window per pushed entry in the window (a session of
  a scheduled event the trainer is assigned to, or a platform unavailability), with the
  rendered subject, body, location, times, all-day flag and show-as; and no tagged item in the
  window for any other key.
- **in**: no tagged item in the window (nothing goes out).
- **in / both**: one "Unavailable" mirror per blocking occurrence of an own item in the window,
  with the occurrence's times and nothing else (no reason, not all-day); none for `out`.
- **everyone**: own items (untagged) are never written: same version, same fields.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import select

from connectors.exchange.tag import decode_tag
from connectors.platform import db
from connectors.platform.calendar import SESSION_PREFIX, UNAVAILABILITY_PREFIX
from connectors.platform.models import (
    Course,
    EventSession,
    EventTrainer,
    Trainer,
    TrainingEvent,
    Unavailability,
    Venue,
)
from sync_rules.frames import PLATFORM_COLUMNS, validate_platform
from sync_rules.render import render_entries
from sync_rules.rules import load_rules
from tests.soak.world import RULES, SoakWorld

_RULES = load_rules(overrides=RULES)
NON_BLOCKING = {"Free"}  # the default rules: Free never blocks; Tentative does


def _entries(world: SoakWorld) -> dict[str, list[dict[str, Any]]]:
    """Every pushed-kind platform entry of each trainer, wherever it lies in time."""
    entries: dict[str, list[dict[str, Any]]] = {m: [] for m in world.directions}
    with db.transaction(world.url) as s:
        email = {t.id: t.email for t in s.scalars(select(Trainer))}
        sessions = s.execute(
            select(EventTrainer.trainer_id, EventSession, TrainingEvent, Course.name, Venue)
            .join(TrainingEvent, TrainingEvent.id == EventTrainer.event_id)
            .join(EventSession, EventSession.event_id == TrainingEvent.id)
            .join(Course, Course.id == TrainingEvent.course_id)
            .outerjoin(Venue, Venue.id == TrainingEvent.venue_id)
            .where(TrainingEvent.status == "scheduled")
        ).all()
        for trainer_id, session, event, course, venue in sessions:
            entries[email[trainer_id]].append(
                {
                    "trainer_id": trainer_id,
                    "entry_key": f"{SESSION_PREFIX}{session.id}",
                    "kind": "session",
                    "origin": "platform",
                    "start": session.start,
                    "end": session.end,
                    "all_day": False,
                    "course": course,
                    "venue": venue.name if venue else None,
                    "venue_address": venue.address if venue else None,
                    "event_ref": event.ref,
                    "event_url": event.event_url,
                    "delegate_instructions_url": event.delegate_instructions_url,
                    "trainer_instructions_url": event.trainer_instructions_url,
                }
            )
        blocks = s.scalars(select(Unavailability).where(Unavailability.origin == "platform"))
        for row in blocks:
            entries[email[row.trainer_id]].append(
                {
                    "trainer_id": row.trainer_id,
                    "entry_key": f"{UNAVAILABILITY_PREFIX}{row.id}",
                    "kind": "unavailability",
                    "origin": "platform",
                    "start": row.start,
                    "end": row.end,
                    "all_day": row.all_day,
                    "reason": row.reason,
                }
            )
    return entries


def _rendered(entries: list[dict[str, Any]]) -> dict[tuple[int, str], dict[str, Any]]:
    """Each entry's Outlook fields as the rules render them, by (trainer id, entry key)."""
    if not entries:
        return {}
    frame = pd.DataFrame([{c: e.get(c) for c in PLATFORM_COLUMNS} for e in entries])
    rendered = render_entries(validate_platform(frame), _RULES).loc[frame.index]
    return {
        (e["trainer_id"], e["entry_key"]): r
        for e, r in zip(entries, rendered.to_dict("records"), strict=True)
    }


def _overlaps(start: Any, end: Any, window: tuple[datetime, datetime]) -> bool:
    return bool(pd.Timestamp(start) < window[1] and pd.Timestamp(end) > window[0])


def _text(value: Any) -> str:
    return str(value or "").replace("\r\n", "\n").strip()


def _differences(item: dict[str, Any], rendered: dict[str, Any]) -> list[str]:
    wanted = {
        "subject": _text(rendered["subject"]),
        "body": _text(rendered["body"]),
        "location": _text(rendered["location"]),
        "start": pd.Timestamp(rendered["start"]),
        "end": pd.Timestamp(rendered["end"]),
        "all_day": bool(rendered["all_day"]),
        "show_as": rendered["show_as"],
    }
    found = {
        **{k: _text(item[k]) for k in ("subject", "body", "location")},
        "start": pd.Timestamp(item["start"]),
        "end": pd.Timestamp(item["end"]),
        "all_day": item["all_day"],
        "show_as": item["show_as"],
    }
    return [f"{k} {found[k]!r} (not {wanted[k]!r})" for k in wanted if found[k] != wanted[k]]


def violations(world: SoakWorld, now: datetime) -> list[str]:
    """Every way the calendars differ from what the run at `now` had to leave behind."""
    window = world.window(now)
    problems: list[str] = []
    entries = _entries(world)
    mirrors = _mirrors(world, window)
    rendered_all = _rendered(
        [e for m, d in world.directions.items() if d != "in" for e in entries[m]]
    )
    for mailbox, direction in sorted(world.directions.items()):
        pushed = {
            e["entry_key"]: rendered_all[(e["trainer_id"], e["entry_key"])]
            for e in entries[mailbox]
            if direction != "in"
        }
        pushed = {k: r for k, r in pushed.items() if _overlaps(r["start"], r["end"], window)}
        tagged: dict[str, list[dict[str, Any]]] = {}
        for item in world.side.items(mailbox):
            key, _hash = decode_tag(item["tag"])
            if key and _overlaps(item["start"], item["end"], window):
                tagged.setdefault(key, []).append(item)
        for key, rendered in sorted(pushed.items()):
            items = tagged.get(key, [])
            if len(items) != 1:
                problems.append(f"{mailbox}: {len(items)} items in the window for {key}")
            elif wrong := _differences(items[0], rendered):
                problems.append(f"{mailbox}: the item of {key} has " + "; ".join(wrong))
        for key in sorted(set(tagged) - set(pushed)):
            problems.append(f"{mailbox}: {len(tagged[key])} tagged item(s) in the window for {key}")

        blocking: Counter[tuple[datetime, datetime]] = Counter()
        if direction in ("in", "both"):
            for item in world.own.values():
                if item.mailbox == mailbox and item.show_as not in NON_BLOCKING:
                    blocking.update(item.occurrences(*window))
        found = Counter((m.start, m.end) for m in mirrors.get(mailbox, []))
        for times, n in sorted((blocking - found).items()):
            problems.append(f"{mailbox}: {n} occurrence(s) at {_span(times)} have no mirror")
        for times, n in sorted((found - blocking).items()):
            problems.append(f"{mailbox}: {n} mirror(s) at {_span(times)} block nothing")
        for m in mirrors.get(mailbox, []):
            if m.reason is not None or m.all_day:
                problems.append(f"{mailbox}: mirror {m.id} carries more than times")
    return problems


def _mirrors(world: SoakWorld, window: tuple[datetime, datetime]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    with db.transaction(world.url) as s:
        rows = s.execute(
            select(Trainer.email, Unavailability)
            .join(Trainer, Trainer.id == Unavailability.trainer_id)
            .where(
                Unavailability.origin == "exchange",
                Unavailability.start < window[1],
                Unavailability.end > window[0],
            )
        ).all()
        for email, row in rows:
            s.expunge(row)
            found.setdefault(email, []).append(row)
    return found


def _span(times: tuple[datetime, datetime]) -> str:
    return f"{times[0]:%d %b %H:%M}–{times[1]:%d %b %H:%M}"


def own_items(world: SoakWorld) -> dict[str, dict[str, Any]]:
    """Every untagged item of every trainer, as it is now (to tell whether anyone wrote it)."""
    return {
        item["id"]: item
        for mailbox in sorted(world.directions)
        for item in world.side.items(mailbox)
        if not item["tag"]
    }


def touched(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[str]:
    """Own items the syncs between two snapshots changed, deleted or made."""
    problems = [f"own item {i} was deleted" for i in sorted(set(before) - set(after))]
    problems += [f"untagged item {i} appeared" for i in sorted(set(after) - set(before))]
    problems += [
        f"own item {i} was changed"
        for i in sorted(set(before) & set(after))
        if before[i] != after[i]
    ]
    return problems
