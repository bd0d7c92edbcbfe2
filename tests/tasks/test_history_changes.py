"""Each trainer's record lists its changes, and a held trainer is `held`, not `synced`."""

from __future__ import annotations

from tasks.exchange import TrainerOutcome
from tasks.history import changes_by_trainer, counts_by_trainer, trainer_record, with_outcomes
from tests.tasks.test_history_outcomes import PLAN, _trainer


def test_records_list_changes_and_a_held_trainer_is_held() -> None:
    outcomes = [
        TrainerOutcome(_trainer(1), "synced"),
        TrainerOutcome(_trainer(2), "synced"),
        TrainerOutcome(_trainer(3), "failed", error="mailbox gone"),
        TrainerOutcome(_trainer(4), "idle"),
    ]
    changes = with_outcomes(PLAN, outcomes)
    listed = changes_by_trainer(changes)
    records = {
        r["trainer"]: r
        for r in (trainer_record(o, counts_by_trainer(changes), listed) for o in outcomes)
    }
    first = records["t1@x.test"]["changes"]
    assert [(c["side"], c["action"], c["entry_key"]) for c in first] == [
        ("exchange", "create", "session:1"),
        ("exchange", "update", "session:2"),
        ("platform", "create", None),
    ]
    assert first[0]["item_id"] is None  # empty fields are None, never NaN
    held = records["t2@x.test"]
    assert held["status"] == "held" and held["changes"][0]["outcome"] == "held"
    assert records["t3@x.test"]["status"] == "failed"  # a failure is not hidden by a hold
    assert records["t4@x.test"]["changes"] == []
