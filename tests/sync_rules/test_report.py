"""Dry-run output: per-trainer summary text and table records."""

from __future__ import annotations

import json

from sync_rules.plan import build_plan
from sync_rules.report import plan_records, render_summary
from sync_rules.rules import load_rules
from tests.sync_rules.model import World, exchange_item, platform_entry


def make_plan():
    world = World(load_rules(overrides={"mass_delete_guard": {"min_count": 1}}))
    world.add_trainer(1, "both")
    world.add_trainer(2, "out")
    world.add_trainer(3, "out")
    world.add_entry(
        platform_entry(1, "session:1", "2026-11-26T09:00Z", "2026-11-26T17:00Z", course="SQL")
    )
    world.add_item(
        exchange_item(1, "own", "2026-11-27T09:00Z", "2026-11-27T10:00Z", subject="Therapy")
    )
    for n in range(3):
        world.add_item(
            exchange_item(
                2, f"x{n}", "2026-11-27T09:00Z", "2026-11-27T10:00Z", tag_key=f"session:{n}"
            )
        )
    return build_plan(**world.frames(), rules=world.rules, now=world.now)


def test_records_count_per_side_and_hold_in_plain_json_types():
    records = plan_records(make_plan(), trainer_ids=[1, 2, 3])
    json.dumps(records)
    by_id = {r["trainer_id"]: r for r in records}
    assert by_id[1]["exchange_created"] == 1 and by_id[1]["platform_created"] == 1
    assert by_id[2]["exchange_deleted"] == 0 and by_id[2]["exchange_held"] == 3
    assert by_id[2]["hold_reason"].startswith("mass_delete_guard: would delete 3 of 3")
    assert by_id[3] == {**{k: 0 for k in by_id[3]}, "trainer_id": 3, "hold_reason": ""}


def test_summary_names_counts_and_holds_but_no_private_text():
    text = render_summary(make_plan())
    assert "Trainer 1: exchange: 1 create; platform: 1 create" in text
    assert "Trainer 2: no changes applied — HELD 3 (mass_delete_guard" in text
    assert "[held] exchange removed_from_platform" in text
    assert "Therapy" not in text
    assert "'SQL'" in text


def test_empty_plan_reads_as_in_sync():
    plan = make_plan().iloc[0:0]
    assert render_summary(plan) == "Nothing to do: both sides are in sync."
    assert plan_records(plan) == []
