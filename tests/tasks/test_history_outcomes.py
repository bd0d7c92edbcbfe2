"""What became of each planned action, as the run history and the artifact report it."""

from __future__ import annotations

import pandas as pd

from sync_rules.frames import PLAN_COLUMNS
from tasks.context import TrainerInfo
from tasks.exchange import TrainerOutcome
from tasks.history import counts_by_trainer, totals, trainer_record, with_outcomes


def _trainer(tid: int) -> TrainerInfo:
    return TrainerInfo(tid, f"t{tid}@x.test", f"T{tid}", f"t{tid}@x.test", "both", True, "svc")


def _plan(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [{**dict.fromkeys(PLAN_COLUMNS), "held": False, **r} for r in rows],
        columns=list(PLAN_COLUMNS),
    )


PLAN = _plan(
    [
        {"trainer_id": 1, "side": "exchange", "action": "create", "entry_key": "session:1"},
        {
            "trainer_id": 1,
            "side": "exchange",
            "action": "update",
            "entry_key": "session:2",
            "item_id": "i2",
        },
        {"trainer_id": 1, "side": "platform", "action": "create", "source_item_id": "o1"},
        {
            "trainer_id": 2,
            "side": "exchange",
            "action": "delete",
            "entry_key": "session:3",
            "item_id": "i3",
            "held": True,
        },
        {"trainer_id": 3, "side": "exchange", "action": "create", "entry_key": "session:4"},
    ]
)


def test_each_row_gets_its_outcome_and_counts_follow() -> None:
    outcomes = [
        TrainerOutcome(
            _trainer(1),
            "failed",
            write_results=(
                {"entry_key": "session:1", "item_id": "new", "action": "create", "ok": True},
                {"entry_key": "session:2", "item_id": "i2", "action": "update", "ok": False},
            ),
        ),
        TrainerOutcome(_trainer(2), "synced"),
        TrainerOutcome(_trainer(3), "failed", error="mailbox gone"),  # nothing was written
    ]
    changes = with_outcomes(PLAN, outcomes)
    assert list(changes["outcome"]) == ["applied", "failed", "applied", "held", "failed"]
    counts = counts_by_trainer(changes)
    records = [trainer_record(o, counts) for o in outcomes]
    assert (records[0]["exchange_created"], records[0]["exchange_updated"]) == (1, 0)
    assert records[0]["platform_created"] == 1
    assert (records[1]["exchange_deleted"], records[1]["exchange_held"]) == (0, 1)
    assert records[2]["exchange_created"] == 0 and records[2]["error"] == "mailbox gone"
    assert totals(records)["exchange_held"] == 1


def test_a_dry_run_reports_planned_rows_as_would_be_counts() -> None:
    outcomes = [TrainerOutcome(_trainer(t), "planned") for t in (1, 2, 3)]
    changes = with_outcomes(PLAN, outcomes)
    assert list(changes["outcome"]) == ["planned", "planned", "planned", "held", "planned"]
    records = [trainer_record(o, counts_by_trainer(changes)) for o in outcomes]
    assert totals(records)["exchange_created"] == 2
