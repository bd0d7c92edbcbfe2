"""Dry-run output of a plan: a readable text per trainer and plain records for a table.

Counts of created/updated/deleted are the actions that would be applied (not held);
`held` counts the actions the mass-deletion guard holds back, whatever their kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

SIDES = ("exchange", "platform")
_VERBS = (("create", "created"), ("update", "updated"), ("delete", "deleted"))
RECORD_COLUMNS = (
    "trainer_id",
    *(f"{side}_{done}" for side in SIDES for _, done in _VERBS),
    "exchange_held",
    "platform_held",
    "hold_reason",
)


def plan_records(
    plan: pd.DataFrame, trainer_ids: Iterable[int] | None = None
) -> list[dict[str, Any]]:
    """One record per trainer (JSON types only), fit for a table artifact:
    trainer_id, {exchange,platform}_{created,updated,deleted,held}, hold_reason.

    `trainer_ids` adds all-zero rows for trainers without actions."""
    ids = set(int(t) for t in plan["trainer_id"].unique())
    if trainer_ids is not None:
        ids |= {int(t) for t in trainer_ids}
    held = plan["held"].astype(bool)
    counts = (
        plan.assign(kind=plan["action"].where(~held, "held"))
        .groupby(["trainer_id", "side", "kind"])
        .size()
    )
    reasons = plan[held].groupby("trainer_id")["hold_reason"].first()
    records = []
    for trainer_id in sorted(ids):
        record: dict[str, Any] = {"trainer_id": trainer_id}
        for side in SIDES:
            for action, done in (*_VERBS, ("held", "held")):
                record[f"{side}_{done}"] = int(counts.get((trainer_id, side, action), 0))
        reason = reasons.get(trainer_id)
        record["hold_reason"] = str(reason) if isinstance(reason, str) else ""
        records.append({c: record[c] for c in RECORD_COLUMNS})
    return records


def render_summary(plan: pd.DataFrame, max_lines_per_trainer: int = 20) -> str:
    """A human-readable dry-run summary: per trainer, the counts per side and action, what
    is held and why, then up to `max_lines_per_trainer` action lines."""
    if plan.empty:
        return "Nothing to do: both sides are in sync."
    lines: list[str] = []
    for record in plan_records(plan):
        trainer_id = record["trainer_id"]
        sides = []
        for side in SIDES:
            parts = [
                f"{record[f'{side}_{done}']} {action}"
                for action, done in _VERBS
                if record[f"{side}_{done}"]
            ]
            if parts:
                sides.append(f"{side}: {', '.join(parts)}")
        held = record["exchange_held"] + record["platform_held"]
        header = f"Trainer {trainer_id}: " + ("; ".join(sides) if sides else "no changes applied")
        if held:
            header += f" — HELD {held} ({record['hold_reason']})"
        lines.append(header)
        rows = plan[plan["trainer_id"] == trainer_id]
        for row in rows.head(max_lines_per_trainer).itertuples(index=False):
            mark = "[held] " if row.held else ""
            lines.append(f"  {mark}{row.side} {row.reason}: {row.summary}")
        if len(rows) > max_lines_per_trainer:
            lines.append(f"  … and {len(rows) - max_lines_per_trainer} more")
    return "\n".join(lines)
