"""Property tests: random calendars on both sides, random directions, windows and edits.

Each example syncs a random world, disturbs it (trainer edits in Outlook, deletions,
copies, platform changes, direction switches, unread mailboxes), plans, applies the plan
to the in-memory model and checks the guarantees of docs/sync-semantics.md (§Ownership,
§Window, §Idempotence, §Duplicates and keepers, §Mass-deletion guard).
"""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sync_rules.plan import build_plan, in_window, window_bounds
from sync_rules.render import render_entries
from sync_rules.rules import load_rules
from tests.sync_rules.model import NOW, World, exchange_item, platform_entry

# No shrink phase: each example costs several plans, so shrinking a failure would take
# minutes; the examples are small enough to read unshrunk.
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
LONDON = "Europe/London"
COURSES = ["Python", "Excel", "First Aid", None]
VENUES = ["Leeds", "York", None]
SHOW_AS = ["Busy", "Free", "Tentative", "OOF", "WorkingElsewhere", "NoData"]
# What a trainer does in Outlook to one of the engine's (tagged) items.
TAGGED_ITEM_EDITS = (
    "tamper_subject",
    "tamper_times",
    "tamper_show_as",
    "touch",
    "delete_item",
    "copy_item",
)
EDITS = [
    *TAGGED_ITEM_EDITS,
    "rename_course",
    "move_entry",
    "remove_entry",
    "reassign_entry",
    "add_entry",
    "add_own",
    "move_own",
    "cancel_own",
    "free_own",
    "delete_own",
]


@st.composite
def span(draw) -> tuple[pd.Timestamp, pd.Timestamp, bool]:
    if draw(st.integers(0, 4)) == 0:
        first = (NOW.tz_convert(LONDON).normalize().tz_localize(None)) + pd.Timedelta(
            days=draw(st.integers(-15, 50))
        )
        days = draw(st.integers(1, 3))
        start = first.tz_localize(LONDON).tz_convert("UTC")
        end = (first + pd.Timedelta(days=days)).tz_localize(LONDON).tz_convert("UTC")
        return start, end, True
    start = NOW.floor("h") + pd.Timedelta(hours=draw(st.integers(-24 * 15, 24 * 50)))
    return start, start + pd.Timedelta(hours=draw(st.integers(0, 30))), False


@st.composite
def scenarios(draw) -> dict:
    overrides = {
        "window": {
            # Drawn downwards so that the simplest examples have a roomy window.
            "past_days": 10 - draw(st.integers(0, 10)),
            "future_days": 45 - draw(st.integers(0, 44)),
        },
        "out": {
            "sessions": draw(st.integers(0, 4)) < 4,
            "unavailability": draw(st.integers(0, 4)) < 4,
        },
        "in": {"free_blocks": draw(st.booleans()), "tentative_blocks": draw(st.booleans())},
        "on_direction_off": draw(st.sampled_from(["keep", "remove"])),
        "mass_delete_guard": {"min_count": draw(st.integers(0, 4))},
    }
    trainers = []
    for trainer_id in range(1, draw(st.integers(1, 3)) + 1):
        entries = [
            {
                "kind": draw(st.sampled_from(["session", "unavailability"])),
                "span": draw(span()),
                "course": draw(st.sampled_from(COURSES)),
                "venue": draw(st.sampled_from(VENUES)),
            }
            for _ in range(draw(st.integers(1, 7)))
        ]
        own = [
            {
                "span": draw(span()),
                "show_as": draw(st.sampled_from(SHOW_AS)),
                "cancelled": draw(st.integers(0, 5)) == 5,
            }
            for _ in range(draw(st.integers(1, 6)))
        ]
        trainers.append(
            {
                "trainer_id": trainer_id,
                "direction": draw(st.sampled_from(["both", "out", "in"])),
                "calendar_enabled": draw(st.integers(0, 6)) < 6,
                "entries": entries,
                "own": own,
                "later_direction": draw(st.sampled_from([None, None, "in", "out", "both"])),
                "later_enabled": draw(st.integers(0, 6)) < 6,
                "later_read": draw(st.integers(0, 5)) < 5,
            }
        )
    edits = draw(
        st.lists(
            st.tuples(st.sampled_from(EDITS), st.integers(0, 50), span()), min_size=3, max_size=12
        )
    )
    whole = draw(st.booleans())
    return {"overrides": overrides, "trainers": trainers, "edits": edits, "whole": whole}


def build_world(scenario: dict) -> World:
    world = World(load_rules(overrides=scenario["overrides"]))
    for t in scenario["trainers"]:
        tid = t["trainer_id"]
        world.add_trainer(tid, t["direction"], calendar_enabled=t["calendar_enabled"])
        for n, e in enumerate(t["entries"]):
            start, end, all_day = e["span"]
            key = f"{e['kind']}:{tid}-{n}"
            extra = {"course": e["course"], "venue": e["venue"]} if e["kind"] == "session" else {}
            world.add_entry(platform_entry(tid, key, start, end, all_day=all_day, **extra))
        for n, o in enumerate(t["own"]):
            start, end, all_day = o["span"]
            world.add_item(
                exchange_item(
                    tid,
                    f"own-{tid}-{n}",
                    start,
                    end,
                    all_day=all_day,
                    show_as=o["show_as"],
                    is_cancelled=o["cancelled"],
                    subject=f"secret-subject-{tid}-{n}",
                    body=f"secret-body-{tid}-{n}",
                    location=f"secret-location-{tid}-{n}",
                )
            )
    return world


def plan_of(world: World, allow: bool = True, whole: bool = False) -> pd.DataFrame:
    frames = world.frames(whole_calendars=whole)
    return build_plan(**frames, rules=world.rules, now=world.now, allow_mass_delete=allow)


def sync(world: World) -> World:
    world.apply(plan_of(world))
    return world


def disturb(world: World, scenario: dict) -> None:
    """Apply the scenario's edits: the trainer in Outlook and the admin in the platform."""
    hour = pd.Timedelta(hours=1)
    for n, (edit, pick, (start, end, all_day)) in enumerate(scenario["edits"]):
        tagged = sorted(k for k, i in world.items.items() if i["tag_key"])
        owned = sorted(k for k, i in world.items.items() if not i["tag_key"])
        entries = sorted(k for k, e in world.entries.items() if e["origin"] == "platform")
        trainer_ids = sorted(world.trainers)
        if edit in TAGGED_ITEM_EDITS:
            if not tagged:
                continue
            key = tagged[pick % len(tagged)]
            item = world.items[key]
            if edit == "delete_item":
                del world.items[key]
                continue
            if edit == "copy_item":
                world.add_item({**item, "item_id": f"copy-{n}", "change_key": f"ck-copy-{n}"})
                continue
            if edit == "tamper_subject":
                item["subject"] = "My own words"
            elif edit == "tamper_times":
                item.update(start=item["start"] + hour, end=item["end"] + hour)
            elif edit == "tamper_show_as":
                item["show_as"] = "Free"
            item["change_key"] = f"ck-edit-{n}"
        elif edit in {"rename_course", "move_entry", "remove_entry", "reassign_entry"}:
            if not entries:
                continue
            key = entries[pick % len(entries)]
            entry = world.entries[key]
            if edit == "rename_course":
                entry["course"] = f"Renamed {n}"
            elif edit == "move_entry":
                entry.update(start=start, end=end, all_day=all_day)
            elif edit == "remove_entry":
                del world.entries[key]
            else:
                other = trainer_ids[(trainer_ids.index(key[0]) + 1) % len(trainer_ids)]
                del world.entries[key]
                world.entries.setdefault((other, key[1]), {**entry, "trainer_id": other})
        elif edit == "add_entry":
            tid = trainer_ids[pick % len(trainer_ids)]
            world.add_entry(
                platform_entry(tid, f"session:new-{n}", start, end, all_day=all_day, course="New")
            )
        elif edit == "add_own":
            tid = trainer_ids[pick % len(trainer_ids)]
            world.add_item(exchange_item(tid, f"own-new-{n}", start, end, all_day=all_day))
        elif owned:
            key = owned[pick % len(owned)]
            item = world.items[key]
            if edit == "move_own":
                item.update(start=start, end=end, all_day=all_day)
            elif edit == "cancel_own":
                item["is_cancelled"] = True
            elif edit == "free_own":
                item["show_as"] = "Free"
            else:
                del world.items[key]
    for t in scenario["trainers"]:
        flags = world.trainers[t["trainer_id"]]
        if t["later_direction"]:
            flags["direction"] = t["later_direction"]
        flags.update(calendar_enabled=t["later_enabled"], exchange_read=t["later_read"])


def inside(world: World, row: dict) -> bool:
    win_start, win_end = window_bounds(world.rules, world.now)
    start, end = pd.Series([row["start"]]), pd.Series([row["end"]])
    return bool(in_window(start, end, win_start, win_end).iloc[0])


def active(world: World, trainer_id: int, side: str) -> bool:
    flags = world.trainers[trainer_id]
    wanted = {"out": ("out", "both"), "in": ("in", "both")}[side]
    return flags["exchange_read"] and flags["calendar_enabled"] and flags["direction"] in wanted


def check_outcome(before: World, plan: pd.DataFrame, after: World) -> None:
    unread = {t for t, f in before.trainers.items() if not f["exchange_read"]}
    assert not set(plan["trainer_id"]) & unread, "a trainer whose mailbox was not read got actions"

    # Hard invariant: a trainer's own items are never touched, and their text never
    # reaches the platform side.
    for key, item in before.items.items():
        if not item["tag_key"]:
            assert after.items.get(key) == item, f"own item {key} was changed"
    platform_rows = plan[plan["side"] == "platform"]
    assert platform_rows[["subject", "body", "location"]].isna().all().all()
    secrets = {
        v for i in before.items.values() if not i["tag_key"]
        for v in (i["subject"], i["body"], i["location"])
    }  # fmt: skip
    for entry in after.entries.values():
        if entry["origin"] == "exchange":
            assert all(entry[c] is None for c in ("course", "venue", "reason", "event_url"))
            assert not secrets & {str(v) for v in entry.values()}
    for text in plan["summary"]:
        assert not any(s in text for s in secrets), text
    for key, entry in before.entries.items():
        if entry["origin"] == "platform":
            assert after.entries.get(key) == entry, "a platform-origin entry was changed"

    # Window: an item in the window whose entry now lies outside it does not stay where it
    # is: it moves with its entry (and is kept there), or goes.
    for key, item in before.items.items():
        entry = before.entries.get((key[0], item["tag_key"] or ""))
        if (
            entry is not None
            and entry["origin"] == "platform"
            and active(before, key[0], "out")
            and inside(before, item)
            and not inside(before, entry)
        ):
            moved = after.items.get(key)
            assert moved is None or not inside(after, moved), (
                f"item {key} stayed in the window while its entry lies outside it"
            )

    # Window: nothing outside it is touched.
    for key, item in before.items.items():
        if not inside(before, item):
            assert after.items.get(key) == item, f"item {key} outside the window was touched"
    for key, entry in before.entries.items():
        if not inside(before, entry):
            assert after.entries.get(key) == entry, f"entry {key} outside the window was touched"


def check_mirrored_once(world: World) -> None:
    rules = world.rules
    kinds = {
        k
        for k, on in (("session", rules.out.sessions), ("unavailability", rules.out.unavailability))
        if on
    }  # noqa: E501
    frames = world.frames()
    platform = frames["platform"]
    rendered = render_entries(platform, rules)
    for trainer_id in world.trainers:
        tagged = [
            i for i in world.items.values()
            if i["trainer_id"] == trainer_id and i["tag_key"] and inside(world, i)
        ]  # fmt: skip
        if active(world, trainer_id, "out"):
            wanted = platform[
                (platform["trainer_id"] == trainer_id)
                & (platform["origin"] == "platform")
                & platform["kind"].isin(kinds)
            ]
            for idx, entry in wanted.iterrows():
                copies = [i for i in tagged if i["tag_key"] == entry["entry_key"]]
                want = rendered.loc[idx]
                if not inside(world, want):
                    continue
                assert len(copies) == 1, f"{entry['entry_key']} mirrored {len(copies)} times"
                for field in ("subject", "body", "location", "start", "end", "show_as"):
                    assert copies[0][field] == want[field], field
                assert bool(copies[0]["all_day"]) == bool(want["all_day"])
        if active(world, trainer_id, "in"):
            non_blocking = set()
            if not rules.in_.free_blocks:
                non_blocking.add("Free")
            if not rules.in_.tentative_blocks:
                non_blocking.add("Tentative")
            blocking = [
                i for i in world.items.values()
                if i["trainer_id"] == trainer_id and not i["tag_key"] and inside(world, i)
                and not i["is_cancelled"] and i["show_as"] not in non_blocking
            ]  # fmt: skip
            mirrors = [
                e for e in world.entries.values()
                if e["trainer_id"] == trainer_id and e["origin"] == "exchange" and inside(world, e)
            ]  # fmt: skip
            assert len(mirrors) == len(blocking)
            for item in blocking:
                (mirror,) = [m for m in mirrors if m["source_item_id"] == item["item_id"]]
                assert (mirror["start"], mirror["end"]) == (item["start"], item["end"])
                assert mirror["all_day"] == bool(item["all_day"])


@SETTINGS
@given(scenarios())
def test_sync_then_disturb_then_sync_converges_and_keeps_the_invariants(scenario):
    world = sync(build_world(scenario))
    assert plan_of(world).empty, "a second plan after a sync is not empty"
    check_mirrored_once(world)

    disturb(world, scenario)
    before = world.snapshot()
    # Some extractors hand over whole calendars: the plan must apply the window itself.
    plan = plan_of(world, whole=scenario["whole"])
    world.apply(plan)
    check_outcome(before, plan, world)
    assert plan_of(world).empty, "plan is not idempotent"
    check_mirrored_once(world)


@settings(SETTINGS, max_examples=25)
@given(scenarios(), st.sampled_from(["platform", "mailbox"]))
def test_guard_holds_on_an_emptied_calendar(scenario, emptied):
    world = sync(build_world(scenario))
    guard = world.rules.mass_delete_guard
    if emptied == "platform":
        world.entries = {k: e for k, e in world.entries.items() if e["origin"] != "platform"}
        before = world.snapshot()
        side, mirrors = (
            "out",
            lambda w, t: [
                k for k, i in w.items.items() if k[0] == t and i["tag_key"] and inside(w, i)
            ],
        )
    else:
        world.items.clear()
        before = world.snapshot()
        side, mirrors = "in", lambda w, t: [
            k for k, e in w.entries.items()
            if k[0] == t and e["origin"] == "exchange" and inside(w, e)
        ]  # fmt: skip
    plan = plan_of(world, allow=False)
    world.apply(plan)
    for trainer_id in world.trainers:
        if not active(world, trainer_id, side):
            continue
        had = mirrors(before, trainer_id)
        left = mirrors(world, trainer_id)
        if len(had) > guard.min_count:
            assert left == had, "the guard let a mass deletion through"
            rows = plan[plan["trainer_id"] == trainer_id]
            assert rows["held"].all() and rows["hold_reason"].str.startswith("mass_delete").all()
        else:
            assert left == [], "a small deletion was held"
