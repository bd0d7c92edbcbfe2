"""An in-memory model of both sides (platform calendar and Exchange mailboxes) and of the
engine's link state, used to apply plans in tests exactly as the loaders are meant to."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field

import pandas as pd

from sync_rules.frames import (
    EXCHANGE_COLUMNS,
    LINKS_COLUMNS,
    OUTSIDE_WINDOW_COLUMNS,
    PLATFORM_COLUMNS,
    TRAINERS_COLUMNS,
    split_list,
)
from sync_rules.plan import in_window, window_bounds
from sync_rules.rules import Rules

NOW = pd.Timestamp("2026-11-25T08:00:00Z")


def platform_entry(trainer_id: int, entry_key: str, start, end, **fields) -> dict:
    """A platform row with every column present."""
    kind = "session" if entry_key.startswith("session:") else "unavailability"
    row = {c: None for c in PLATFORM_COLUMNS}
    row.update(
        trainer_id=trainer_id,
        entry_key=entry_key,
        kind=kind,
        origin="platform",
        start=pd.Timestamp(start),
        end=pd.Timestamp(end),
        all_day=False,
    )
    row.update(fields)
    return row


def exchange_item(trainer_id: int, item_id: str, start, end, **fields) -> dict:
    """An exchange row with every column present (a trainer's own Busy item by default)."""
    row = {c: None for c in EXCHANGE_COLUMNS}
    row.update(
        trainer_id=trainer_id,
        item_id=item_id,
        change_key=f"ck-{item_id}-0",
        start=pd.Timestamp(start),
        end=pd.Timestamp(end),
        all_day=False,
        subject="Dentist",
        location="High Street",
        body="private",
        show_as="Busy",
        is_cancelled=False,
        sensitivity="Normal",
    )
    row.update(fields)
    return row


@dataclass
class World:
    """Both calendars and the link state; `frames()` extracts, `apply()` loads a plan."""

    rules: Rules
    now: pd.Timestamp = NOW
    trainers: dict[int, dict] = field(default_factory=dict)
    entries: dict[tuple[int, str], dict] = field(default_factory=dict)
    items: dict[tuple[int, str], dict] = field(default_factory=dict)
    links: dict[tuple[int, str], dict] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def add_trainer(self, trainer_id: int, direction: str = "both", **flags) -> None:
        row = dict(
            trainer_id=trainer_id,
            direction=direction,
            calendar_enabled=True,
            mailbox=f"t{trainer_id}@example.org",
            exchange_read=True,
        )
        row.update(flags)
        self.trainers[trainer_id] = row

    def add_entry(self, row: dict) -> None:
        self.entries[(row["trainer_id"], row["entry_key"])] = dict(row)

    def add_item(self, row: dict) -> None:
        self.items[(row["trainer_id"], row["item_id"])] = dict(row)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def snapshot(self) -> World:
        return copy.deepcopy(self)

    # ------------------------------------------------------------ extraction

    def frames(self, whole_calendars: bool = False) -> dict[str, pd.DataFrame]:
        """The inputs of `build_plan` as the extractors would produce them: rows overlapping
        the window, or with `whole_calendars` every row (a sloppy extractor)."""
        win_start, win_end = window_bounds(self.rules, self.now)

        def windowed(rows: list[dict], columns) -> pd.DataFrame:
            frame = pd.DataFrame(rows, columns=list(columns))
            if frame.empty:
                return frame
            frame["start"] = pd.to_datetime(frame["start"], utc=True)
            frame["end"] = pd.to_datetime(frame["end"], utc=True)
            if whole_calendars:
                return frame
            return frame[in_window(frame["start"], frame["end"], win_start, win_end)]

        platform = windowed(list(self.entries.values()), PLATFORM_COLUMNS)
        exchange = windowed(list(self.items.values()), EXCHANGE_COLUMNS)
        in_platform = set(zip(platform["trainer_id"], platform["entry_key"], strict=True))
        tagged_keys = {
            (r["trainer_id"], r["tag_key"])
            for r in exchange.to_dict("records")
            if isinstance(r["tag_key"], str)
        }
        # Entries that exist (platform-origin, assigned) but lie outside the window, whose
        # items are in it: handed over as keys and, as the plan task does, as rows.
        elsewhere = [
            e
            for (t, k), e in self.entries.items()
            if e["origin"] == "platform" and (t, k) in tagged_keys and (t, k) not in in_platform
        ]
        outside_window = [
            {"trainer_id": e["trainer_id"], "entry_key": e["entry_key"]} for e in elsewhere
        ]
        # And, as the plan task does, the mirrors outside the window of own items in it.
        own_items = {
            (r["trainer_id"], r["item_id"])
            for r in exchange.to_dict("records")
            if not isinstance(r["tag_key"], str)
        }
        mirrors_elsewhere = [
            e
            for (t, k), e in self.entries.items()
            if e["origin"] == "exchange"
            and (t, e["source_item_id"]) in own_items
            and (t, k) not in in_platform
        ]
        if (elsewhere or mirrors_elsewhere) and not whole_calendars:
            rows = pd.DataFrame(elsewhere + mirrors_elsewhere, columns=list(PLATFORM_COLUMNS))
            platform = pd.concat([platform, rows], ignore_index=True) if len(platform) else rows
            platform["start"] = pd.to_datetime(platform["start"], utc=True)
            platform["end"] = pd.to_datetime(platform["end"], utc=True)
        return {
            "trainers": pd.DataFrame(list(self.trainers.values()), columns=list(TRAINERS_COLUMNS)),
            "platform": platform,
            "exchange": exchange,
            "links": pd.DataFrame(
                [{"trainer_id": t, "entry_key": k, **v} for (t, k), v in self.links.items()],
                columns=list(LINKS_COLUMNS),
            ),
            "outside_window": pd.DataFrame(outside_window, columns=list(OUTSIDE_WINDOW_COLUMNS)),
        }

    # ------------------------------------------------------------ loading

    def apply(self, plan: pd.DataFrame) -> None:
        """Carry out the plan's non-held rows the way the connectors and state store do."""
        for row in plan[~plan["held"]].to_dict("records"):
            row = {k: (None if _missing(v) else v) for k, v in row.items()}
            getattr(self, f"_{row['side']}_{row['action']}")(row)

    def _exchange_create(self, row: dict) -> None:
        item_id = self.new_id("AAMk")
        item = {c: row.get(c) for c in EXCHANGE_COLUMNS if c in row}
        item.update(
            trainer_id=row["trainer_id"],
            item_id=item_id,
            change_key=self.new_id("ck"),
            is_cancelled=False,
            sensitivity="Normal",
            tag_key=row["entry_key"],
            tag_hash=row["content_hash"],
            categories=row["categories"],
            reminder_minutes=row["reminder_minutes"],
        )
        self.items[(row["trainer_id"], item_id)] = item
        self.links[(row["trainer_id"], row["entry_key"])] = {
            "item_id": item_id,
            "change_key": item["change_key"],
            "content_hash": row["content_hash"],
        }

    def _exchange_update(self, row: dict) -> None:
        item = self.items[(row["trainer_id"], row["item_id"])]
        assert item["tag_key"] is not None, "updated an item the engine did not create"
        assert item["change_key"] == row["change_key"], "stale change key"
        for name in split_list(row["changed_fields"]):
            item[name] = row[name]
        item["tag_hash"] = row["content_hash"]
        item["change_key"] = self.new_id("ck")
        self.links[(row["trainer_id"], row["entry_key"])] = {
            "item_id": row["item_id"],
            "change_key": item["change_key"],
            "content_hash": row["content_hash"],
        }

    def _exchange_delete(self, row: dict) -> None:
        item = self.items.pop((row["trainer_id"], row["item_id"]))
        assert item["tag_key"] is not None, "deleted an item the engine did not create"
        link_key = (row["trainer_id"], item["tag_key"])
        if self.links.get(link_key, {}).get("item_id") == row["item_id"]:
            del self.links[link_key]

    def _platform_create(self, row: dict) -> None:
        key = self.new_id("unavailability:")
        self.add_entry(
            platform_entry(
                row["trainer_id"],
                key,
                row["start"],
                row["end"],
                origin="exchange",
                all_day=bool(row["all_day"]),
                source_item_id=row["source_item_id"],
            )
        )

    def _platform_update(self, row: dict) -> None:
        entry = self.entries[(row["trainer_id"], row["entry_key"])]
        assert entry["origin"] == "exchange"
        entry.update(start=row["start"], end=row["end"], all_day=bool(row["all_day"]))

    def _platform_delete(self, row: dict) -> None:
        entry = self.entries.pop((row["trainer_id"], row["entry_key"]))
        assert entry["origin"] == "exchange", "deleted a platform-origin entry"


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
