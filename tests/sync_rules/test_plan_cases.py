"""Table-driven tests: the cases of docs/sync-semantics.md and each plan reason."""

from __future__ import annotations

import pandas as pd
import pytest

from sync_rules import reasons as R
from sync_rules.frames import validate_plan
from sync_rules.plan import build_plan
from sync_rules.render import render_entries
from sync_rules.rules import load_rules
from tests.sync_rules.model import World, exchange_item, platform_entry

RULES = load_rules()


def plan_of(world: World, allow: bool = False) -> pd.DataFrame:
    return build_plan(**world.frames(), rules=world.rules, now=world.now, allow_mass_delete=allow)


def synced(world: World) -> World:
    """Bring the world in sync and check that it stays so."""
    world.apply(plan_of(world, allow=True))
    assert plan_of(world).empty
    return world


def session(trainer_id=1, n=1, day=26, hours=(9, 17), **fields) -> dict:
    fields.setdefault("course", "Python Basics")
    fields.setdefault("venue", "Leeds Hub")
    fields.setdefault("venue_address", "1 Park Row, Leeds")
    fields.setdefault("event_url", f"https://platform.example/events/{n}")
    start = pd.Timestamp(f"2026-11-{day:02d}T{hours[0]:02d}:00Z")
    end = pd.Timestamp(f"2026-11-{day:02d}T{hours[1]:02d}:00Z")
    return platform_entry(trainer_id, f"session:{n}", start, end, **fields)


def own(trainer_id=1, item_id="own-1", day=27, hours=(10, 11), **fields) -> dict:
    start = pd.Timestamp(f"2026-11-{day:02d}T{hours[0]:02d}:00Z")
    end = pd.Timestamp(f"2026-11-{day:02d}T{hours[1]:02d}:00Z")
    return exchange_item(trainer_id, item_id, start, end, **fields)


def world_with(direction="both", rules=RULES, **flags) -> World:
    world = World(rules)
    world.add_trainer(1, direction, **flags)
    return world


def tagged_items(world: World, key: str) -> list[dict]:
    return [i for i in world.items.values() if i["tag_key"] == key]


def only(plan: pd.DataFrame) -> dict:
    assert len(plan) == 1, plan[["side", "action", "reason", "summary"]]
    return plan.iloc[0].to_dict()


# ------------------------------------------------------------------ out (§Out cases)


def test_new_platform_entry_is_created_tagged_with_its_rendering():
    world = world_with()
    world.add_entry(session())
    row = only(plan_of(world))
    rendering = render_entries(world.frames()["platform"], RULES).iloc[0]
    assert (row["side"], row["action"], row["reason"]) == ("exchange", "create", R.NEW_IN_PLATFORM)
    assert row["entry_key"] == "session:1"
    assert row["subject"] == "Python Basics — Leeds Hub"
    assert row["content_hash"] == rendering["content_hash"]
    assert row["categories"] == "Training" and row["reminder_minutes"] == 15
    assert row["show_as"] == "Busy" and not row["held"]
    assert "Python Basics" in row["summary"]


def test_changed_platform_entry_updates_the_item_guarded_by_its_change_key():
    world = synced(_with_session(world_with()))
    world.entries[(1, "session:1")]["course"] = "Python Advanced"
    (item,) = tagged_items(world, "session:1")
    row = only(plan_of(world))
    assert (row["action"], row["reason"]) == ("update", R.CHANGED_IN_PLATFORM)
    assert row["item_id"] == item["item_id"] and row["change_key"] == item["change_key"]
    assert row["subject"] == "Python Advanced — Leeds Hub"
    fields = row["changed_fields"].split(";")
    assert {"subject", "body"} <= set(fields) and "start" not in fields


def _with_session(world: World, **fields) -> World:
    world.add_entry(session(**fields))
    return world


@pytest.mark.parametrize(
    ("edit", "expected_fields"),
    [
        ({"subject": "Lunch with Sam"}, "subject"),
        ({"start": pd.Timestamp("2026-11-26T10:00Z")}, "start"),
        ({"show_as": "Free", "location": "Home"}, "location;show_as"),
        ({"all_day": True}, "all_day"),
    ],
)
def test_trainer_edit_of_a_managed_field_is_overwritten(edit, expected_fields):
    world = synced(_with_session(world_with()))
    (item,) = tagged_items(world, "session:1")
    item.update(edit, change_key="ck-edited")
    row = only(plan_of(world))
    assert (row["action"], row["reason"]) == ("update", R.TAMPERED_IN_EXCHANGE)
    assert row["changed_fields"] == expected_fields
    assert row["change_key"] == "ck-edited"
    assert "Lunch" not in row["summary"] and "Home" not in row["summary"]


@pytest.mark.parametrize("crlf_body", [False, True])
def test_changed_change_key_without_managed_change_plans_nothing(crlf_body):
    # e.g. the trainer added a personal category, or Exchange handed the body back with CR/LF
    world = synced(_with_session(world_with()))
    (item,) = tagged_items(world, "session:1")
    if crlf_body:
        item["body"] = item["body"].replace("\n", "\r\n") + "\r\n  "
    item["change_key"] = "ck-touched"
    assert plan_of(world).empty


def test_item_deleted_in_outlook_is_recreated():
    world = synced(_with_session(world_with()))
    (item,) = tagged_items(world, "session:1")
    del world.items[(1, item["item_id"])]
    row = only(plan_of(world))
    assert (row["side"], row["action"], row["reason"]) == (
        "exchange",
        "create",
        R.DELETED_IN_EXCHANGE,
    )


@pytest.mark.parametrize("why", ["removed", "reassigned"])
def test_item_of_a_removed_or_reassigned_entry_is_deleted(why):
    world = world_with()
    world.add_trainer(2, "out")
    synced(_with_session(world))
    (item,) = tagged_items(world, "session:1")
    entry = world.entries.pop((1, "session:1"))
    if why == "reassigned":
        world.add_entry({**entry, "trainer_id": 2})
    plan = plan_of(world)
    row = only(plan[plan["trainer_id"] == 1])
    assert (row["side"], row["action"], row["reason"]) == (
        "exchange",
        "delete",
        R.REMOVED_FROM_PLATFORM,
    )
    assert row["item_id"] == item["item_id"] and row["change_key"] == item["change_key"]
    if why == "reassigned":
        assert only(plan[plan["trainer_id"] == 2])["reason"] == R.NEW_IN_PLATFORM


def test_an_entry_moved_out_of_the_window_takes_its_item_along():
    world = synced(_with_session(world_with()))
    (item,) = tagged_items(world, "session:1")
    far = pd.Timestamp("2028-01-10T09:00Z"), pd.Timestamp("2028-01-10T17:00Z")
    world.entries[(1, "session:1")].update(start=far[0], end=far[1])
    frames = world.frames()
    assert len(frames["outside_window"]) == 1
    row = only(build_plan(**frames, rules=RULES, now=world.now))
    assert (row["action"], row["reason"]) == ("update", R.MOVED_OUT_OF_WINDOW)
    assert row["item_id"] == item["item_id"] and (row["start"], row["end"]) == far
    assert {"start", "end", "subject"} <= set(row["changed_fields"].split(";"))
    world.apply(build_plan(**frames, rules=RULES, now=world.now))
    assert build_plan(**world.frames(), rules=RULES, now=world.now).empty  # left alone there


def test_an_entry_known_outside_the_window_only_by_key_removes_its_item():
    world = synced(_with_session(world_with()))
    world.entries[(1, "session:1")].update(
        start=pd.Timestamp("2028-01-10T09:00Z"), end=pd.Timestamp("2028-01-10T17:00Z")
    )
    frames = world.frames()
    frames["platform"] = frames["platform"].iloc[0:0]  # the caller gave keys, not rows
    row = only(build_plan(**frames, rules=RULES, now=world.now))
    assert (row["action"], row["reason"]) == ("delete", R.MOVED_OUT_OF_WINDOW)


def test_an_entry_moved_before_the_window_takes_its_item_along():
    world = synced(_with_session(world_with()))
    frames = world.frames()
    entry = world.entries[(1, "session:1")]
    moved = {**entry, "start": pd.Timestamp("2020-01-10T09:00Z"), "end": entry["end"]}
    moved["end"] = pd.Timestamp("2020-01-10T17:00Z")
    frames["platform"] = pd.DataFrame([moved])
    row = only(build_plan(**frames, rules=RULES, now=world.now))
    assert (row["action"], row["reason"]) == ("update", R.MOVED_OUT_OF_WINDOW)
    assert row["start"] == moved["start"]


@pytest.mark.parametrize("direction", ["in", "out", "both"])
def test_nothing_outside_the_window_is_touched_even_when_handed_over(direction):
    world = world_with(direction, rules=load_rules(overrides={"on_direction_off": "remove"}))
    for when, day in (("past", "2026-01-01"), ("future", "2028-06-01")):
        start, end = pd.Timestamp(f"{day}T09:00Z"), pd.Timestamp(f"{day}T10:00Z")
        world.add_item(exchange_item(1, f"{when}-tagged", start, end, tag_key=f"session:{when}"))
        world.add_item(exchange_item(1, f"{when}-own", start, end))
        world.add_entry(
            platform_entry(
                1, f"unavailability:{when}", start, end, origin="exchange", source_item_id="gone"
            )
        )
    world.trainers[1]["calendar_enabled"] = direction != "both"
    assert build_plan(**world.frames(whole_calendars=True), rules=world.rules, now=world.now).empty


@pytest.mark.parametrize("linked_is_larger", [True, False])
def test_duplicates_keep_the_linked_item_and_delete_the_rest(linked_is_larger):
    world = synced(_with_session(world_with()))
    (item,) = tagged_items(world, "session:1")
    copy_id = "AAAA-copy" if linked_is_larger else "ZZZZ-copy"
    world.add_item({**item, "item_id": copy_id, "change_key": "ck-copy"})
    row = only(plan_of(world))
    assert (row["action"], row["reason"], row["item_id"]) == ("delete", R.DUPLICATE, copy_id)


def test_unlinked_duplicates_keep_the_smallest_item_id():
    world = world_with()
    entry = session()
    world.add_entry(entry)
    rendering = render_entries(world.frames()["platform"], RULES).iloc[0].to_dict()
    for item_id in ("B", "A", "C"):
        world.add_item(
            exchange_item(
                1,
                item_id,
                rendering["start"],
                rendering["end"],
                subject=rendering["subject"],
                body=rendering["body"],
                location=rendering["location"],
                tag_key="session:1",
                tag_hash=rendering["content_hash"],
            )
        )
    plan = plan_of(world)
    assert sorted(plan["item_id"]) == ["B", "C"]
    assert set(plan["reason"]) == {R.DUPLICATE}


# ------------------------------------------------------------------ in (§In cases)


def test_own_item_becomes_an_unavailable_mirror_without_details():
    world = world_with()
    world.add_item(own(subject="Hospital appointment", location="Ward 3", body="confidential"))
    row = only(plan_of(world))
    assert (row["side"], row["action"], row["reason"]) == ("platform", "create", R.NEW_IN_EXCHANGE)
    assert row["source_item_id"] == "own-1"
    assert row["start"] == pd.Timestamp("2026-11-27T10:00Z") and not row["all_day"]
    assert pd.isna(row["subject"]) and pd.isna(row["body"]) and pd.isna(row["location"])
    text = " ".join(str(v) for v in row.values())
    assert "Hospital" not in text and "Ward" not in text and "confidential" not in text


@pytest.mark.parametrize(
    ("show_as", "overrides", "mirrored"),
    [
        ("Busy", {}, True),
        ("OOF", {}, True),
        ("WorkingElsewhere", {}, True),
        ("Tentative", {}, True),
        ("Free", {}, False),
        ("Free", {"in": {"free_blocks": True}}, True),
        ("Tentative", {"in": {"tentative_blocks": False}}, False),
    ],
)
def test_which_own_items_block(show_as, overrides, mirrored):
    world = world_with(rules=load_rules(overrides=overrides))
    world.add_item(own(show_as=show_as))
    assert len(plan_of(world)) == int(mirrored)


def test_own_item_moved_updates_its_mirror():
    world = synced(_with_own(world_with()))
    world.items[(1, "own-1")].update(
        start=pd.Timestamp("2026-11-28T00:00Z"), end=pd.Timestamp("2026-11-29T00:00Z"), all_day=True
    )
    (mirror_key,) = [k for (_, k), e in world.entries.items() if e["origin"] == "exchange"]
    row = only(plan_of(world))
    assert (row["action"], row["reason"], row["entry_key"]) == (
        "update",
        R.CHANGED_IN_EXCHANGE,
        mirror_key,
    )
    assert row["all_day"] and row["start"] == pd.Timestamp("2026-11-28T00:00Z")


def test_a_mirror_left_outside_the_window_follows_its_item_back_in():
    """Handed over with the platform frame (the planning task fetches it), the old mirror is
    moved to its item's times: never a second mirror beside it."""
    world = synced(_with_own(world_with()))
    (mirror_key,) = [k for (_, k), e in world.entries.items() if e["origin"] == "exchange"]
    world.entries[(1, mirror_key)].update(
        start=pd.Timestamp("2026-09-01T10:00Z"), end=pd.Timestamp("2026-09-01T11:00Z")
    )
    row = only(plan_of(world))
    assert (row["action"], row["reason"], row["entry_key"]) == (
        "update",
        R.CHANGED_IN_EXCHANGE,
        mirror_key,
    )
    assert row["start"] == pd.Timestamp("2026-11-27T10:00Z")


def _with_own(world: World, **fields) -> World:
    world.add_item(own(**fields))
    return world


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("delete", R.REMOVED_FROM_EXCHANGE),
        ("cancel", R.REMOVED_FROM_EXCHANGE),
        ("free", R.NOW_FREE),
    ],
)
def test_mirror_of_a_gone_cancelled_or_free_item_is_deleted(change, reason):
    world = synced(_with_own(world_with()))
    if change == "delete":
        del world.items[(1, "own-1")]
    else:
        world.items[(1, "own-1")].update(
            {"is_cancelled": True} if change == "cancel" else {"show_as": "Free"}
        )
    row = only(plan_of(world))
    assert (row["side"], row["action"], row["reason"]) == ("platform", "delete", reason)


def test_duplicate_mirrors_keep_one():
    world = synced(_with_own(world_with()))
    (mirror,) = [e for e in world.entries.values() if e["origin"] == "exchange"]
    world.add_entry({**mirror, "entry_key": "unavailability:zz-copy"})
    row = only(plan_of(world))
    assert (row["side"], row["reason"], row["entry_key"]) == (
        "platform",
        R.DUPLICATE,
        "unavailability:zz-copy",
    )


# ------------------------------------------------------------------ echo, directions, gates


def test_echo_suppression_mirrors_never_go_out_and_tagged_items_never_come_in():
    world = synced(_with_own(_with_session(world_with("both"))))
    plan = plan_of(world)
    assert plan.empty
    keys_out = {i["tag_key"] for i in world.items.values() if i["tag_key"]}
    assert keys_out == {"session:1"}
    sources = {e["source_item_id"] for e in world.entries.values() if e["origin"] == "exchange"}
    assert sources == {"own-1"}


@pytest.mark.parametrize(
    ("direction", "sides"),
    [("out", {"exchange"}), ("in", {"platform"}), ("both", {"exchange", "platform"})],
)
def test_direction_selects_the_sides(direction, sides):
    world = _with_own(_with_session(world_with(direction)))
    assert set(plan_of(world)["side"]) == sides


@pytest.mark.parametrize("mode", ["keep", "remove"])
@pytest.mark.parametrize("switch", ["direction", "calendar"])
def test_switching_off_keeps_or_removes_mirrors(mode, switch):
    rules = load_rules(overrides={"on_direction_off": mode})
    world = synced(_with_own(_with_session(world_with("both", rules=rules))))
    if switch == "direction":
        world.trainers[1]["direction"] = "in"
    else:
        world.trainers[1]["calendar_enabled"] = False
    plan = plan_of(world)
    if mode == "keep":
        assert plan.empty
        return
    expected = {("exchange", R.DIRECTION_OFF)}
    if switch == "calendar":
        expected.add(("platform", R.DIRECTION_OFF))
    assert set(zip(plan["side"], plan["reason"], strict=True)) == expected
    assert set(plan["action"]) == {"delete"}


def test_trainer_whose_mailbox_was_not_read_gets_no_actions():
    world = synced(_with_own(_with_session(world_with())))
    world.items.clear()  # nothing read: absence of items must not look like deletions
    world.entries[(1, "session:1")]["course"] = "Renamed"
    world.trainers[1]["exchange_read"] = False
    assert plan_of(world).empty


def test_own_items_are_never_updated_or_deleted():
    world = world_with("out")
    world.add_item(own(item_id="mine", tag_key=None))
    world.add_item(own(item_id="mine-2", day=28))
    assert plan_of(world).empty
    world.trainers[1]["direction"] = "both"
    plan = plan_of(world)
    assert set(plan["side"]) == {"platform"}


def test_platform_kinds_can_be_kept_from_going_out():
    rules = load_rules(overrides={"out": {"unavailability": False}})
    world = world_with(rules=rules)
    world.add_entry(session())
    world.add_entry(platform_entry(1, "unavailability:5", "2026-11-30T09:00Z", "2026-11-30T12:00Z"))
    plan = plan_of(world)
    assert list(plan["entry_key"]) == ["session:1"]


# ------------------------------------------------------------------ mass-deletion guard


def _many(world: World, n: int) -> World:
    for i in range(n):
        world.add_entry(session(n=i, day=26 + i % 4, hours=(i % 12, i % 12 + 1)))
    return world


def test_emptied_platform_calendar_is_held():
    world = synced(_many(world_with("out"), 12))
    world.entries.clear()
    plan = plan_of(world)
    assert len(plan) == 12 and plan["held"].all()
    assert set(plan["hold_reason"]) == {
        "mass_delete_guard: would delete 12 of 12 exchange mirrors (> 50% and > 10)"
    }
    assert not plan_of(world, allow=True)["held"].any()


def test_deleting_at_most_min_count_is_not_held():
    world = synced(_many(world_with("out"), 10))
    world.entries.clear()
    plan = plan_of(world)
    assert len(plan) == 10 and not plan["held"].any()


def test_emptied_mailbox_holds_the_mirror_deletions():
    world = world_with("in")
    for i in range(11):
        world.add_item(own(item_id=f"own-{i}", hours=(i, i + 1)))
    synced(world)
    world.items.clear()
    plan = plan_of(world)
    assert len(plan) == 11 and plan["held"].all()
    assert (
        plan["hold_reason"].iloc[0].startswith("mass_delete_guard: would delete 11 of 11 platform")
    )


def test_guard_is_per_trainer():
    world = _many(world_with("out"), 12)
    world.add_trainer(2, "out")
    world.add_entry(session(trainer_id=2, n=100))
    synced(world)
    world.entries.clear()
    plan = plan_of(world)
    assert plan[plan["trainer_id"] == 1]["held"].all()
    assert not plan[plan["trainer_id"] == 2]["held"].any()


def test_plan_frame_is_valid_and_sorted():
    world = _with_own(_many(world_with(), 3))
    plan = plan_of(world)
    validate_plan(plan)
    assert list(plan.index) == list(range(len(plan)))
    assert plan["side"].tolist() == sorted(plan["side"].tolist())
