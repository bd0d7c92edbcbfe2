"""The change gate's platform fingerprints, and adopting tagged items into the link state."""

from __future__ import annotations

import pandas as pd

from sync_rules.adopt import adoptable_links
from sync_rules.frames import EXCHANGE_COLUMNS, LINKS_COLUMNS, PLAN_COLUMNS, PLATFORM_COLUMNS
from sync_rules.gate import (
    READ_AHEAD,
    platform_after,
    platform_fingerprints,
    read_valid_until,
    rules_fingerprint,
)
from sync_rules.rules import load_rules

T = pd.Timestamp("2026-03-02 09:00", tz="UTC")


def _platform(rows: list[dict]) -> pd.DataFrame:
    base = dict.fromkeys(PLATFORM_COLUMNS)
    return pd.DataFrame(
        [{**base, "kind": "session", "origin": "platform", "all_day": False, **r} for r in rows],
        columns=list(PLATFORM_COLUMNS),
    )


TRAINERS = pd.DataFrame(
    {
        "trainer_id": [1, 2],
        "direction": ["out", "in"],
        "calendar_enabled": [True, True],
        "mailbox": ["a@x.test", "b@x.test"],
    }
)
ENTRY = {
    "trainer_id": 1,
    "entry_key": "session:1",
    "start": T,
    "end": T + pd.Timedelta(hours=1),
    "course": "First Aid",
}


def test_fingerprints_change_only_for_the_trainer_whose_entries_changed() -> None:
    digest = rules_fingerprint(load_rules())
    before = platform_fingerprints(_platform([ENTRY]), TRAINERS, digest)
    moved = platform_fingerprints(
        _platform(
            [{**ENTRY, "start": T + pd.Timedelta(hours=1), "end": T + pd.Timedelta(hours=2)}]
        ),
        TRAINERS,
        digest,
    )
    assert before[1] != moved[1]
    assert before[2] == moved[2]  # trainer 2 has no entries either way
    assert before.equals(platform_fingerprints(_platform([ENTRY]), TRAINERS, digest))


def test_fingerprints_follow_link_settings_and_rules() -> None:
    digest = rules_fingerprint(load_rules())
    before = platform_fingerprints(_platform([ENTRY]), TRAINERS, digest)
    both = TRAINERS.assign(direction=["both", "in"])
    assert platform_fingerprints(_platform([ENTRY]), both, digest)[1] != before[1]
    other_rules = rules_fingerprint(load_rules(overrides={"window": {"future_days": 30}}))
    assert platform_fingerprints(_platform([ENTRY]), TRAINERS, other_rules)[1] != before[1]


def _frame(columns: tuple[str, ...], rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{**dict.fromkeys(columns), **r} for r in rows], columns=list(columns))


def test_tagged_items_unknown_to_the_links_are_adopted_unless_the_plan_touches_them() -> None:
    exchange = _frame(
        EXCHANGE_COLUMNS,
        [
            {
                "trainer_id": 1,
                "item_id": "g-2",
                "change_key": "c2",
                "tag_key": "session:1",
                "tag_hash": "h1",
            },
            {
                "trainer_id": 1,
                "item_id": "g-1",
                "change_key": "c1",
                "tag_key": "session:1",
                "tag_hash": "h1",
            },
            {
                "trainer_id": 1,
                "item_id": "g-3",
                "change_key": "c3",
                "tag_key": "session:2",
                "tag_hash": "h2",
            },
            {
                "trainer_id": 1,
                "item_id": "g-4",
                "change_key": "c4",
                "tag_key": "session:3",
                "tag_hash": "h3",
            },
            {
                "trainer_id": 1,
                "item_id": "own",
                "change_key": "c5",
                "tag_key": None,
                "tag_hash": None,
            },
        ],
    )
    links = _frame(
        LINKS_COLUMNS,
        [
            {
                "trainer_id": 1,
                "entry_key": "session:1",
                "item_id": "ews-1",
                "change_key": "x",
                "content_hash": "h1",
            },
            {
                "trainer_id": 1,
                "entry_key": "session:3",
                "item_id": "g-4",
                "change_key": "c4",
                "content_hash": "h3",
            },
        ],
    )
    plan = _frame(
        PLAN_COLUMNS,
        [
            {"trainer_id": 1, "side": "exchange", "action": "update", "entry_key": "session:2"},
        ],
    )
    adopted = adoptable_links(exchange, links, plan)
    assert adopted.to_dict("records") == [
        {
            "trainer_id": 1,
            "entry_key": "session:1",
            "item_id": "g-1",
            "change_key": "c1",
            "content_hash": "h1",
        },
    ]


def _mirror(trainer_id: int, key: str, item: str, hour: int) -> dict:
    start = pd.Timestamp("2026-12-10T09:00Z") + pd.Timedelta(hours=hour)
    return {
        **dict.fromkeys(PLATFORM_COLUMNS),
        "trainer_id": trainer_id,
        "entry_key": key,
        "kind": "unavailability",
        "origin": "exchange",
        "start": start,
        "end": start + pd.Timedelta(hours=1),
        "all_day": False,
        "source_item_id": item,
    }


def test_the_platform_after_a_run_is_what_it_read_plus_its_own_writes():
    """The fingerprint stored after a run must not absorb an edit made meanwhile: it is
    computed from the frame the run read with its own mirror writes applied, and matches
    what the store holds when nothing else changed (mirrors are known by their item)."""
    trainers = pd.DataFrame(
        [{"trainer_id": 1, "direction": "in", "calendar_enabled": True, "mailbox": "a@x"}]
    )
    read = pd.DataFrame(
        [_mirror(1, "unavailability:7", "item-a", 0), _mirror(1, "unavailability:8", "item-b", 2)]
    )
    applied = pd.DataFrame(
        [
            {"trainer_id": 1, "action": "delete", "entry_key": "unavailability:7"},
            {**_mirror(1, "unavailability:8", "item-b", 3), "action": "update"},
            {**_mirror(1, None, "item-c", 5), "action": "create"},
        ]
    )
    expected = platform_after(read, applied)
    # What the store then holds: the same mirrors under the ids it gave them.
    stored = pd.DataFrame(
        [_mirror(1, "unavailability:8", "item-b", 3), _mirror(1, "unavailability:9", "item-c", 5)]
    )
    assert platform_fingerprints(expected, trainers, "r").equals(
        platform_fingerprints(stored, trainers, "r")
    )
    edited = stored.assign(end=stored["end"] + pd.Timedelta(minutes=30))
    assert not platform_fingerprints(expected, trainers, "r").equals(
        platform_fingerprints(edited, trainers, "r")
    )


def test_a_read_stays_complete_until_the_window_reaches_what_lies_beyond_it():
    now = pd.Timestamp("2026-12-02T10:00Z").to_pydatetime()
    end = now + pd.Timedelta(days=365)
    beyond = end + pd.Timedelta(hours=40)
    inside = end - pd.Timedelta(days=3)
    assert read_valid_until([inside, beyond], now, end) == now + pd.Timedelta(hours=40)
    assert read_valid_until([inside], now, end) == now + READ_AHEAD
