"""The mass-deletion guard (docs/sync-semantics.md §Mass-deletion guard).

An emptied calendar on either side (a broken extraction, a wiped mailbox, a mistaken import)
would otherwise delete every mirror on the other side in one run. A trainer whose plan deletes
too many of a side's mirrors is held whole: none of the trainer's rows is applied until a run
allows it explicitly.
"""

from __future__ import annotations

import pandas as pd

from sync_rules import reasons as R
from sync_rules.rules import MassDeleteGuard


def hold_reasons(
    plan: pd.DataFrame,
    tagged_items: pd.DataFrame,
    mirrors: pd.DataFrame,
    guard: MassDeleteGuard,
) -> pd.Series:
    """Per plan row, why it is held (None: not held). A trainer is held when its plan deletes
    more than `guard.share` of its tagged items (or of its "Unavailable" mirrors) in the
    window, and more than `guard.min_count` of them; when both sides trip, both reasons show."""
    per_side = []
    for side, existing, label in (
        ("exchange", tagged_items["trainer_id"], "exchange mirrors"),
        ("platform", mirrors["trainer_id"], "platform mirrors"),
    ):
        is_delete = (plan["side"] == side) & (plan["action"] == "delete")
        deleted = plan.loc[is_delete, "trainer_id"].value_counts()
        total = existing.value_counts().reindex(deleted.index, fill_value=0)
        tripped = (deleted > guard.share * total) & (deleted > guard.min_count)
        per_side.append(
            f"{R.MASS_DELETE_GUARD}: would delete "
            + deleted[tripped].astype(str)
            + " of "
            + total[tripped].astype(str)
            + f" {label} (> {guard.share:.0%} and > {guard.min_count})"
        )
    # One column per side, indexed by trainer, missing where that side did not trip.
    tripped_sides = pd.concat(per_side, axis=1, keys=["exchange", "platform"])
    on_exchange, on_platform = tripped_sides["exchange"], tripped_sides["platform"]
    joined = on_exchange.where(on_platform.isna(), on_exchange + "; " + on_platform)
    reason = plan["trainer_id"].map(joined.fillna(on_platform))
    return reason.astype(object).where(reason.notna(), None)
