"""Clashes: a session the platform assigned to a trainer, on time their own Outlook calendar
shows as taken (docs/sync-semantics.md §Clashes).

The platform schedules without seeing Outlook; each run compares the sessions of every
trainer whose mailbox it read with that trainer's own blocking items, for all trainers at
once, and works out which clashes are new since the store last saw them. Only times and the
free/busy status of a trainer's own item are ever read here: never its subject, body or
location.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from sync_rules.frames import (
    UTC_TS,
    validate_exchange,
    validate_platform,
    validate_trainers,
)
from sync_rules.pairs import Positions
from sync_rules.plan import blocking, window_bounds
from sync_rules.render import format_when
from sync_rules.rules import Rules

#: What makes a clash the same from run to run: the trainer, the session, the Outlook item.
KEY = ["trainer_id", "entry_key", "item_id"]
#: A clash as found: the session (its key, course and times) and the trainer's own item
#: (its id, times, all-day flag and how Outlook shows it).
CLASH_COLUMNS = (
    *KEY,
    "course",
    "session_start",
    "session_end",
    "busy_start",
    "busy_end",
    "busy_all_day",
    "show_as",
)
#: A clash as the store keeps it: as found, with its row id and when it was seen.
KNOWN_COLUMNS = ("id", *CLASH_COLUMNS, "first_seen_at", "last_seen_at", "resolved_at")
_TIMES = ("session_start", "session_end", "busy_start", "busy_end")


def overlapping(
    left: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    right: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
) -> tuple[Positions, Positions]:
    """Every pair of a `left` and a `right` interval of the same group that overlap, as
    (left positions, right positions), sorted. Each side is (group, start, end), intervals
    half-open, `[start, end)`: touching ones do not overlap, empty ones overlap nothing.

    Two non-empty intervals overlap exactly when one starts inside the other: the right one
    at or after the left one's start, or the left one strictly after the right one's (the two
    cases never both hold). Each case is a range lookup in intervals sorted by (group, start),
    so the cost is a sort and the pairs found, not every left interval against every right one
    of its group.
    """
    l_group, l_start, l_end = (np.asarray(a) for a in left)
    r_group, r_start, r_end = (np.asarray(a) for a in right)
    # One sortable integer per (group, time): the group's code, then the time's rank among
    # all the times given (exact: no rounding of the times themselves).
    times = np.unique(np.concatenate([l_start, l_end, r_start, r_end]))
    codes = pd.factorize(np.concatenate([l_group, r_group]))[0].astype(np.int64)
    l_code, r_code = codes[: len(l_group)], codes[len(l_group) :]

    def at(code: npt.NDArray[np.int64], time: npt.NDArray[np.generic]) -> npt.NDArray[np.int64]:
        return code * (len(times) + 1) + np.searchsorted(times, time).astype(np.int64)

    l_starts, r_starts = at(l_code, l_start), at(r_code, r_start)
    l_order, r_order = np.argsort(l_starts, kind="stable"), np.argsort(r_starts, kind="stable")
    # Right intervals starting in [left start, left end); left ones starting in (right start,
    # right end).
    first_l, first_r = _ranges(
        r_starts[r_order], l_starts, at(l_code, l_end), side_from="left", order=r_order
    )
    second_r, second_l = _ranges(
        l_starts[l_order], r_starts, at(r_code, r_end), side_from="right", order=l_order
    )
    lefts = np.concatenate([first_l, second_l])
    rights = np.concatenate([first_r, second_r])
    # Empty intervals have no time to share; the range lookups alone would pair one lying
    # inside the other interval.
    real = (
        (l_start[lefts] < r_end[rights])
        & (r_start[rights] < l_end[lefts])
        & (l_start[lefts] < l_end[lefts])
        & (r_start[rights] < r_end[rights])
    )
    lefts, rights = lefts[real], rights[real]
    order = np.lexsort((rights, lefts))
    return lefts[order].astype(np.intp), rights[order].astype(np.intp)


def _ranges(
    sorted_keys: npt.NDArray[np.int64],
    lo_keys: npt.NDArray[np.int64],
    hi_keys: npt.NDArray[np.int64],
    side_from: Literal["left", "right"],
    order: npt.NDArray[np.intp],
) -> tuple[Positions, Positions]:
    """For each query i, the positions (in the unsorted frame, via `order`) of the sorted keys
    in [lo_keys[i], hi_keys[i]) (from `lo` exclusive with side_from="right"), as
    (query positions, found positions)."""
    lo = np.searchsorted(sorted_keys, lo_keys, side=side_from)
    hi = np.searchsorted(sorted_keys, hi_keys, side="left")
    counts = np.maximum(hi - lo, 0)
    queries = np.repeat(np.arange(len(lo_keys)), counts)
    # Position within each query's run, added to where its run begins.
    starts = np.repeat(lo, counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return queries.astype(np.intp), order[starts + within].astype(np.intp)


def find_clashes(
    trainers: pd.DataFrame,
    platform: pd.DataFrame,
    exchange: pd.DataFrame,
    rules: Rules,
    now: datetime | pd.Timestamp,
) -> pd.DataFrame:
    """Every clash in the sync window, for all given trainers at once: a session assigned to
    a trainer that overlaps one of the trainer's own blocking Outlook items.

    Trainers take part when their mailbox was read (`exchange_read`), their calendar is on
    and their direction pushes sessions to Outlook (`out`, `both`). Tagged items (the engine's
    own) and the platform's Unavailable blocks, mirrors included, are not sessions or own
    items, so they never clash; an item blocks as the `in` rules say (`plan.blocking`). Only
    the part of a clash inside the window counts. Returns CLASH_COLUMNS, sorted by trainer,
    session start, entry key, busy start and item id.
    """
    trainers = validate_trainers(trainers)
    platform = validate_platform(platform)
    exchange = validate_exchange(exchange)
    win_start, win_end = window_bounds(rules, now)
    watched = trainers.loc[
        trainers["exchange_read"]
        & trainers["calendar_enabled"]
        & trainers["direction"].isin(["out", "both"]),
        "trainer_id",
    ]
    sessions = platform[
        (platform["kind"] == "session")
        & (platform["origin"] == "platform")
        & platform["trainer_id"].isin(watched)
    ]
    own = exchange[exchange["tag_key"].isna() & exchange["trainer_id"].isin(watched)]
    items = own[blocking(own, rules.in_)]
    s_at, i_at = overlapping(
        (sessions["trainer_id"], _ns(sessions["start"]), _ns(sessions["end"])),
        (items["trainer_id"], _ns(items["start"]), _ns(items["end"])),
    )
    s, i = sessions.iloc[s_at], items.iloc[i_at]
    found = pd.DataFrame(
        {
            "trainer_id": s["trainer_id"].to_numpy(),
            "entry_key": s["entry_key"].to_numpy(dtype=object),
            "item_id": i["item_id"].to_numpy(dtype=object),
            "course": s["course"].to_numpy(dtype=object),
            "session_start": s["start"].to_numpy(),
            "session_end": s["end"].to_numpy(),
            "busy_start": i["start"].to_numpy(),
            "busy_end": i["end"].to_numpy(),
            "busy_all_day": i["all_day"].to_numpy(dtype=bool),
            "show_as": i["show_as"].to_numpy(dtype=object),
        }
    )
    found = _typed(found)
    # The time both share, [later start, earlier end), must lie (partly) in the window.
    starts, ends = found[["session_start", "busy_start"]], found[["session_end", "busy_end"]]
    shared_start, shared_end = starts.max(axis=1), ends.min(axis=1)
    found = found[(shared_start < win_end) & (shared_end > win_start)]
    return _sorted(found)


def _ns(times: pd.Series) -> npt.NDArray[np.int64]:
    return np.asarray(times.astype(UTC_TS).array.asi8, dtype=np.int64)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reindex(columns=list(CLASH_COLUMNS))
    frame["trainer_id"] = frame["trainer_id"].astype("int64")
    for name in _TIMES:
        frame[name] = pd.to_datetime(frame[name], utc=True).astype(UTC_TS)
    frame["busy_all_day"] = frame["busy_all_day"].fillna(False).astype(bool)
    return frame


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    order = ["trainer_id", "session_start", "entry_key", "busy_start", "item_id"]
    return frame.sort_values(order, kind="stable").reset_index(drop=True)


def empty_clashes() -> pd.DataFrame:
    """A clash frame without rows (CLASH_COLUMNS, typed)."""
    return _typed(pd.DataFrame({c: [] for c in CLASH_COLUMNS}))


@dataclass(frozen=True)
class ClashChanges:
    """What a run's clashes change in the store, and the clashes that are current after it.

    `new` are clashes seen for the first time (or again after they were resolved: `id` names
    the stored row to reopen, missing for a clash never seen), `ongoing` those seen before and
    still there (with their `id` and `first_seen_at`), `resolved` the ids of stored clashes
    that are gone. `current` is every unresolved clash after the run, of the trainers judged
    and of the others as the store knows them, with `new` marking the first-seen ones.
    """

    new: pd.DataFrame
    ongoing: pd.DataFrame
    resolved: list[int]
    current: pd.DataFrame


def reconcile(
    known: pd.DataFrame,
    found: pd.DataFrame,
    judged: set[int],
    now: datetime | pd.Timestamp,
) -> ClashChanges:
    """Compare the clashes found among the `judged` trainers (those whose mailbox this run
    read, or whose calendar sync is off) with the stored ones (`known`: KNOWN_COLUMNS).

    A trainer that was not judged (idle, failed, not in this run) keeps its stored clashes as
    they are: not being read never means its clashes went away.
    """
    known = known.reindex(columns=list(KNOWN_COLUMNS))
    is_judged = known["trainer_id"].isin(list(judged))
    is_open = known["resolved_at"].isna()
    open_known = known[is_open & is_judged]
    found = found[found["trainer_id"].isin(list(judged))]
    matched = found.merge(
        open_known[[*KEY, "id", "first_seen_at"]], on=KEY, how="left", indicator=True
    )
    seen_before = (matched["_merge"] == "both").to_numpy()
    ongoing = matched[seen_before].drop(columns="_merge").reset_index(drop=True)
    # A clash first seen now: a closed row with its key is reopened rather than duplicated.
    closed = known[~is_open & is_judged][[*KEY, "id"]]
    new = (
        matched[~seen_before]
        .drop(columns=["_merge", "id", "first_seen_at"])
        .merge(closed, on=KEY, how="left")
        .reset_index(drop=True)
    )
    new["first_seen_at"] = pd.Timestamp(now).tz_convert("UTC")
    still = open_known.merge(found[KEY], on=KEY, how="left", indicator=True)
    resolved = [int(i) for i in still.loc[still["_merge"] == "left_only", "id"]]
    untouched = known[is_open & ~is_judged]
    parts = [
        frame[[*CLASH_COLUMNS, "first_seen_at"]].assign(new=flag)
        for frame, flag in ((untouched, False), (ongoing, False), (new, True))
        if len(frame)
    ]
    current = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=[*CLASH_COLUMNS, "first_seen_at", "new"])
    )
    return ClashChanges(new, ongoing, resolved, _sorted(_typed_current(current)))


def _typed_current(frame: pd.DataFrame) -> pd.DataFrame:
    typed = _typed(frame)
    typed["first_seen_at"] = pd.to_datetime(frame["first_seen_at"], utc=True).astype(UTC_TS)
    typed["new"] = frame["new"].astype(bool)
    return typed


# ---------------------------------------------------------------- wording


def local_time(times: pd.Series, tz: str) -> npt.NDArray[np.object_]:
    """Times as they read where the provider is: "Tue 3 Mar 2026 10:00"."""
    if times.empty:
        return np.array([], dtype=object)
    local = pd.DatetimeIndex(times).tz_convert(ZoneInfo(tz))
    day = local.day.astype(str).to_numpy(dtype=object)
    weekday = np.asarray(local.strftime("%a"), dtype=object)
    rest = np.asarray(local.strftime("%b %Y %H:%M"), dtype=object)
    return np.asarray(weekday + " " + day + " " + rest, dtype=object)


def session_text(clashes: pd.DataFrame, tz: str) -> npt.NDArray[np.object_]:
    """Each clash's session: its course and local times, "First Aid, Tue 3 Mar 2026,
    09:00–12:00"."""
    when = format_when(
        clashes["session_start"],
        clashes["session_end"],
        pd.Series(False, index=clashes.index),
        tz,
    )
    course = clashes["course"].fillna("(no course name)").astype(str).to_numpy(dtype=object)
    return np.asarray(course + ", " + when, dtype=object)


def clash_messages(clashes: pd.DataFrame, trainers: pd.Series, tz: str) -> list[str]:
    """One line per clash for an administrator: which session of which trainer overlaps an
    Outlook item shown as what, from when to when (`trainers` names each row's trainer).
    Times and free/busy status only: nothing of the trainer's own item's text."""
    if clashes.empty:
        return []
    busy = format_when(clashes["busy_start"], clashes["busy_end"], clashes["busy_all_day"], tz)
    sessions = session_text(clashes, tz)
    return [
        f"{trainer}: the session {session} ({tz}) overlaps their own Outlook item shown as "
        f"{show_as}, {when}."
        for trainer, session, show_as, when in zip(
            trainers.astype(str), sessions, clashes["show_as"], busy, strict=True
        )
    ]
