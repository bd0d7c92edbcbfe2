"""One readable line per plan row, for dry runs, logs and the run history.

Exchange rows name the engine's rendering (platform content) or the entry key; platform
rows only ever say "Unavailable", so a trainer's own text never appears in a summary.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from sync_rules.render import format_when

#: Where the item or mirror was before the action: columns the plan's sides add for the
#: summary and drop afterwards.
BEFORE_COLUMNS = ("_before_start", "_before_end", "_before_all_day")


def _when(start: pd.Series, end: pd.Series, all_day: pd.Series, tz: str) -> npt.NDArray[np.object_]:
    out = np.full(len(start), "", dtype=object)
    known = ~np.asarray(start.isna() | end.isna(), dtype=bool)
    if known.any():
        out[known] = format_when(
            start[known], end[known], all_day[known].fillna(False).astype(bool), tz
        )
    return out


def summary_lines(plan: pd.DataFrame, tz: str) -> npt.NDArray[np.object_]:
    """Per row of a plan that still has its `BEFORE_COLUMNS`: e.g. "create 'Python — Leeds':
    Mon 7 Dec 2026, 09:00–17:00", "move Unavailable: … → …". Dates read in `tz`."""
    if plan.empty:
        return np.array([], dtype=object)
    after = _when(plan["start"], plan["end"], plan["all_day"], tz)
    before = _when(plan["_before_start"], plan["_before_end"], plan["_before_all_day"], tz)
    on_exchange = (plan["side"] == "exchange").to_numpy()
    action = plan["action"].to_numpy(dtype=object)
    subject = plan["subject"].to_numpy(dtype=object, na_value="")
    key = plan["entry_key"].to_numpy(dtype=object, na_value="")
    fields = plan["changed_fields"].to_numpy(dtype=object, na_value="")
    label = np.where(subject != "", "'" + subject + "'", key)
    lines = np.select(
        [
            on_exchange & (action == "create"),
            on_exchange & (action == "update"),
            on_exchange & (action == "delete"),
            ~on_exchange & (action == "create"),
            ~on_exchange & (action == "update"),
        ],
        [
            "create " + label + ": " + after,
            "update " + label + " [" + fields + "]: " + before + " → " + after,
            "delete item of " + key + ": " + before,
            "create Unavailable: " + after,
            "move Unavailable: " + before + " → " + after,
        ],
        default="delete Unavailable: " + before,
    )
    return np.asarray(lines, dtype=object)
