"""The change gate: what decides that a trainer is idle, so one request is all it costs.

A trainer is idle when its mailbox reports no change since the stored cursor, its platform
fingerprint equals the stored one, and its last read is still complete for the moving window
(`read_valid_until`). Otherwise its mailbox is read and planned.

- The **fingerprint** covers the trainer's platform entries in the window, its link settings
  and the rules, so changing any of them, or an entry entering or leaving the window as time
  passes, makes the next cycle look again. After a run, the fingerprint stored is the one of
  the platform as the run read it, with only the run's own writes applied
  (`platform_after`): an edit someone made while the run went on still differs from it.
- The **read horizon**: a mailbox is read `READ_AHEAD` past the window's end. What lies there
  enters the window by time alone (an own appointment a year ahead, the next occurrence of a
  series), and no change notification says so: the earliest of those starts, less the
  window's length ahead, is when the read stops being complete. Past `READ_AHEAD` the read
  is renewed anyway. So every trainer is read at least once per `READ_AHEAD`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from sync_rules.frames import PLATFORM_COLUMNS

_LINK_COLUMNS = ("direction", "calendar_enabled", "mailbox")
#: How far past the window's end mailboxes are read, and how long a read stays complete at
#: most: every trainer is read (one full window read) at least once per this time.
READ_AHEAD = timedelta(days=7)
_MIRROR_KEY_PREFIX = "mirror-of:"


def read_valid_until(
    starts: Iterable[datetime], read_at: datetime, window_end: datetime
) -> datetime:
    """Until when a read at `read_at` of the window, and of `READ_AHEAD` past its `window_end`,
    holds everything that can be in the window: the moment the window's end reaches the
    earliest item that starts beyond it (`starts`: of the items read), or `READ_AHEAD` on."""
    ahead = window_end - read_at
    entering = [start for start in starts if start >= window_end]
    soonest = min(entering) - ahead if entering else read_at + READ_AHEAD
    return min(read_at + READ_AHEAD, soonest)


def platform_after(platform: pd.DataFrame, applied: pd.DataFrame) -> pd.DataFrame:
    """The platform frame as a run leaves it: `platform`, as the run read it, with the run's
    applied platform rows (`applied`: plan rows of the platform side, not held) carried out.

    Only mirrors change: created ones appear (under a key of their own: a mirror is known to
    the fingerprint by the item it mirrors), moved ones take their new times, deleted ones go.
    """
    if applied.empty:
        return platform
    deleted = applied.loc[applied["action"] == "delete", ["trainer_id", "entry_key"]]
    moved = applied[applied["action"] == "update"]
    keys = pd.MultiIndex.from_frame(platform[["trainer_id", "entry_key"]])
    out = platform[~keys.isin(pd.MultiIndex.from_frame(deleted))].copy()
    if not moved.empty:
        by_key = moved.set_index(["trainer_id", "entry_key"])
        index = pd.MultiIndex.from_frame(out[["trainer_id", "entry_key"]])
        hit = index.isin(by_key.index)
        for name in ("start", "end", "all_day"):
            out.loc[hit, name] = by_key.loc[index[hit], name].to_numpy()
    created = applied[applied["action"] == "create"]
    if not created.empty:
        mirrors = pd.DataFrame(
            {
                "trainer_id": created["trainer_id"].to_numpy(),
                "entry_key": _MIRROR_KEY_PREFIX + created["source_item_id"].astype(str),
                "kind": "unavailability",
                "origin": "exchange",
                "start": created["start"].to_numpy(),
                "end": created["end"].to_numpy(),
                "all_day": created["all_day"].astype(bool).to_numpy(),
                "source_item_id": created["source_item_id"].to_numpy(),
            }
        ).reindex(columns=list(PLATFORM_COLUMNS))
        out = pd.concat([out, mirrors], ignore_index=True) if len(out) else mirrors
    return out


def _canonical(platform: pd.DataFrame) -> pd.DataFrame:
    """The fingerprinted form of platform rows: times as UTC text, missing values as empty
    text, and a mirror known by the item it mirrors (its entry key is the store's row id,
    which a run that creates it cannot know)."""
    rows = platform.loc[:, list(PLATFORM_COLUMNS)].copy()
    mirror = (rows["origin"] == "exchange").to_numpy(dtype=bool)
    rows.loc[mirror, "entry_key"] = _MIRROR_KEY_PREFIX + rows.loc[mirror, "source_item_id"].astype(
        str
    )
    for name in ("start", "end"):
        rows[name] = pd.to_datetime(rows[name], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
    rows["all_day"] = rows["all_day"].astype(bool)
    text = rows.drop(columns=["trainer_id"])
    text = text.astype(object).where(text.notna(), "").astype(str)
    return text.assign(trainer_id=rows["trainer_id"].astype("int64"))


def rules_fingerprint(rules: Mapping[str, Any] | Any) -> str:
    """A stable digest of rule settings (a mapping, or a pydantic model)."""
    data = rules.model_dump(mode="json") if hasattr(rules, "model_dump") else dict(rules)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def platform_fingerprints(
    platform: pd.DataFrame, trainers: pd.DataFrame, rules_digest: str
) -> pd.Series:
    """sha256 hex per trainer_id (indexed by trainer_id) over entries, link settings and rules.

    Row hashes are computed in one vectorised pass; only the final digest runs per trainer.
    """
    rows = _canonical(platform).sort_values(["trainer_id", "entry_key"])
    row_hashes = pd.util.hash_pandas_object(
        rows.drop(columns=["trainer_id"]).astype(str), index=False
    )
    per_trainer = (
        pd.DataFrame({"trainer_id": rows["trainer_id"].to_numpy(), "h": row_hashes.to_numpy()})
        .groupby("trainer_id")["h"]
        .agg(lambda h: h.to_numpy().tobytes())
    )
    settings = trainers.set_index("trainer_id").loc[:, list(_LINK_COLUMNS)].astype(str)
    if settings.empty:
        return pd.Series([], index=settings.index, name="fingerprint", dtype=object)
    settings_text = settings.agg("|".join, axis=1)
    entries = per_trainer.reindex(settings.index).map(lambda b: b if isinstance(b, bytes) else b"")
    digests = [
        hashlib.sha256(f"{rules_digest}|{link}|".encode() + entry_bytes).hexdigest()
        for link, entry_bytes in zip(settings_text, entries, strict=True)
    ]
    return pd.Series(digests, index=settings.index, name="fingerprint")
