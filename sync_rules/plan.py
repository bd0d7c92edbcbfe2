"""The sync plan: diff the platform and Exchange frames of all trainers of a provider.

`build_plan` is vectorised: every step is a merge or a mask over all trainers at once.
It implements DESIGN §3: ownership decides every conflict (platform-origin entries go
out, a trainer's own items come in as "Unavailable" mirrors), echo suppression, the
window rule, duplicates, tamper detection by change key, and the mass-deletion guard.

Hard invariants enforced here (and re-checked before returning):
- an Exchange item without the engine's tag is never updated or deleted;
- no subject, body or location of a trainer's own item ever reaches the platform side;
- a trainer whose mailbox was not read this cycle gets no action at all.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from sync_rules import reasons as R
from sync_rules.frames import (
    COMPARED_FIELDS,
    PLAN_COLUMNS,
    UTC_TS,
    LiveElsewhereSchema,
    empty_frame,
    validate_exchange,
    validate_links,
    validate_live_elsewhere,
    validate_plan,
    validate_platform,
    validate_trainers,
)
from sync_rules.render import render_entries
from sync_rules.rules import Rules

_KEY = ["trainer_id", "entry_key"]
# Fields the frame cannot show (categories, reminder): a platform-side change rewrites them.
_UNSEEN_FIELDS = ("categories", "reminder_minutes")


def in_window(start: pd.Series, end: pd.Series, win_start, win_end) -> pd.Series:
    """Rows overlapping [win_start, win_end) (zero-length rows count if they sit inside)."""
    return (start < win_end) & ((end > win_start) | ((end == start) & (start >= win_start)))


def window_bounds(rules: Rules, now: datetime | pd.Timestamp) -> tuple[pd.Timestamp, ...]:
    """The (start, end) of the sync window around `now` (tz-aware)."""
    now_ts = pd.Timestamp(now)
    if now_ts.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now_ts = now_ts.tz_convert("UTC")
    return now_ts - rules.window.past, now_ts + rules.window.future


def _norm_text(values: pd.Series) -> pd.Series:
    # Exchange may hand text back with CR/LF and trailing whitespace; those are not edits.
    text = values.astype(object).where(values.notna(), "").astype(str)
    return (
        text.str.replace("\r\n", "\n", regex=False).str.replace("\r", "\n", regex=False).str.strip()
    )


def _pairs(frame: pd.DataFrame, key: str = "entry_key") -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([frame["trainer_id"].to_numpy(), frame[key].to_numpy()])


def _isin(frame: pd.DataFrame, key: str, pairs: pd.MultiIndex) -> np.ndarray:
    if len(frame) == 0 or len(pairs) == 0:
        return np.zeros(len(frame), dtype=bool)
    return np.asarray(_pairs(frame, key).isin(pairs))


def _rows(frame: pd.DataFrame, side: str, action: str, reason, **columns) -> pd.DataFrame:
    """Plan rows for `frame` (columns given as Series/values aligned with `frame`)."""
    out = pd.DataFrame(index=frame.index)
    out["trainer_id"] = frame["trainer_id"]
    out["side"] = side
    out["action"] = action
    out["reason"] = reason
    for name, value in columns.items():
        out[name] = value
    return out


def build_plan(
    trainers: pd.DataFrame,
    platform: pd.DataFrame,
    exchange: pd.DataFrame,
    links: pd.DataFrame,
    rules: Rules,
    now: datetime | pd.Timestamp,
    live_elsewhere: pd.DataFrame | None = None,
    allow_mass_delete: bool = False,
) -> pd.DataFrame:
    """Plan every action that brings both sides of all given trainers in line (DESIGN §3).

    Returns a validated plan frame (`frames.PlanSchema`), one row per action, sorted by
    trainer, side, action and keys. Rows of a trainer tripping the mass-deletion guard are
    `held` with a `hold_reason` unless `allow_mass_delete`.
    """
    trainers = validate_trainers(trainers)
    platform = validate_platform(platform)
    exchange = validate_exchange(exchange)
    links = validate_links(links)
    live_elsewhere = validate_live_elsewhere(
        live_elsewhere if live_elsewhere is not None else empty_frame(LiveElsewhereSchema)
    )
    win_start, win_end = window_bounds(rules, now)

    # --- who takes part: only trainers whose mailbox was read this cycle
    read = trainers[trainers["exchange_read"]]
    enabled = read[read["calendar_enabled"]]
    out_ids = enabled.loc[enabled["direction"].isin(["out", "both"]), "trainer_id"]
    in_ids = enabled.loc[enabled["direction"].isin(["in", "both"]), "trainer_id"]
    read_ids = read["trainer_id"]
    remove_off = rules.on_direction_off == "remove"

    platform = platform[platform["trainer_id"].isin(read_ids)]
    exchange = exchange[exchange["trainer_id"].isin(read_ids)]
    exchange = exchange[in_window(exchange["start"], exchange["end"], win_start, win_end)]
    tagged_mask = exchange["tag_key"].notna()
    tagged = exchange[tagged_mask]
    own = exchange[~tagged_mask]

    parts: list[pd.DataFrame] = []
    parts += _plan_out(platform, tagged, links, live_elsewhere, rules, out_ids, win_start, win_end)
    if remove_off:
        off = tagged[~tagged["trainer_id"].isin(out_ids)]
        parts.append(_exchange_delete(off, R.DIRECTION_OFF))

    mirrors = platform[platform["origin"] == "exchange"]
    mirrors = mirrors[in_window(mirrors["start"], mirrors["end"], win_start, win_end)]
    parts += _plan_in(mirrors[mirrors["trainer_id"].isin(in_ids)], own, rules, in_ids)
    if remove_off:
        off = mirrors[~mirrors["trainer_id"].isin(in_ids)]
        parts.append(_platform_delete(off, R.DIRECTION_OFF))

    plan = _assemble(parts)
    plan = _guard(plan, tagged, mirrors, rules, allow_mass_delete)
    plan = _summarise(plan, rules)
    _check_invariants(plan, tagged)
    return validate_plan(plan)


# ---------------------------------------------------------------- out: platform -> Exchange


def _plan_out(platform, tagged, links, live_elsewhere, rules, out_ids, win_start, win_end):
    kinds = [
        k
        for k, on in (("session", rules.out.sessions), ("unavailability", rules.out.unavailability))
        if on
    ]
    # Echo suppression: only platform-origin entries go out.
    entries = platform[
        (platform["origin"] == "platform")
        & platform["kind"].isin(kinds)
        & platform["trainer_id"].isin(out_ids)
    ]
    rendered = render_entries(entries, rules)
    inside = in_window(rendered["start"], rendered["end"], win_start, win_end)
    # Entries the producer gave us that render outside the window still exist: never delete
    # their items (window rule), same as the explicit live-elsewhere keys.
    protected = _pairs(entries[~inside]).append(_pairs(live_elsewhere))
    entries = entries[inside]
    rendered = rendered[inside]
    desired = pd.concat([entries[_KEY], rendered], axis=1)

    items = tagged[tagged["trainer_id"].isin(out_ids)]
    link_cols = links.rename(
        columns={
            "item_id": "link_item_id",
            "change_key": "link_change_key",
            "content_hash": "link_hash",
        }
    )
    items = items.rename(columns={"tag_key": "entry_key"}).merge(link_cols, on=_KEY, how="left")
    items["is_linked"] = (items["item_id"] == items["link_item_id"]).fillna(False).astype(bool)
    # Keep one item per key: the linked one if present, else the smallest item id.
    items = items.sort_values(
        ["trainer_id", "entry_key", "is_linked", "item_id"], ascending=[True, True, False, True]
    )
    items["keeper"] = ~items.duplicated(_KEY)
    live = _isin(items, "entry_key", _pairs(desired))
    elsewhere = _isin(items, "entry_key", protected)

    parts = [
        _exchange_delete(items[~live & ~elsewhere], R.REMOVED_FROM_PLATFORM),
        _exchange_delete(items[live & ~items["keeper"].to_numpy()], R.DUPLICATE),
    ]

    keepers = items[live & items["keeper"].to_numpy()]
    renamed = {c: f"x_{c}" for c in (*COMPARED_FIELDS, "change_key")}
    merged = desired.merge(keepers.rename(columns=renamed), on=_KEY, how="left", indicator=True)
    missing = merged[merged["_merge"] == "left_only"]
    has_link = _isin(missing, "entry_key", _pairs(links))
    parts.append(_exchange_write(missing[~has_link], "create", R.NEW_IN_PLATFORM))
    parts.append(_exchange_write(missing[has_link], "create", R.DELETED_IN_EXCHANGE))

    matched = merged[merged["_merge"] == "both"]
    is_linked = matched["is_linked"].astype(bool)
    recorded = matched["link_hash"].where(
        is_linked & matched["link_hash"].notna(), matched["tag_hash"]
    )
    hash_changed = (matched["content_hash"] != recorded).fillna(True).astype(bool)
    ck_same = (
        is_linked & (matched["x_change_key"] == matched["link_change_key"]).fillna(False)
    ).astype(bool)
    suspect = matched[hash_changed | ~ck_same]
    if len(suspect):
        diffs = _field_diffs(suspect)
        any_diff = diffs.any(axis=1)
        changed = hash_changed[suspect.index]
        names = _joined_names(diffs)
        platform_names = _joined_names(
            pd.concat(
                [diffs, pd.DataFrame(True, index=diffs.index, columns=list(_UNSEEN_FIELDS))], axis=1
            )
        )
        upd_platform = suspect[changed]
        parts.append(
            _exchange_write(
                upd_platform,
                "update",
                R.CHANGED_IN_PLATFORM,
                changed_fields=platform_names[changed],
            )
        )
        tampered = ~changed & any_diff
        parts.append(
            _exchange_write(
                suspect[tampered], "update", R.TAMPERED_IN_EXCHANGE, changed_fields=names[tampered]
            )
        )
    return parts


def _field_diffs(rows: pd.DataFrame) -> pd.DataFrame:
    diffs = {}
    for name in ("subject", "body", "location"):
        diffs[name] = _norm_text(rows[name]) != _norm_text(rows[f"x_{name}"])
    for name in ("start", "end"):
        diffs[name] = (rows[name] != rows[f"x_{name}"]).fillna(True).astype(bool)
    diffs["all_day"] = rows["all_day"].astype(bool) != rows["x_all_day"].astype(bool)
    diffs["show_as"] = (rows["show_as"] != rows["x_show_as"]).fillna(True).astype(bool)
    return pd.DataFrame(diffs, index=rows.index)[list(COMPARED_FIELDS)]


def _joined_names(flags: pd.DataFrame) -> pd.Series:
    out = pd.Series("", index=flags.index, dtype=object)
    for name in flags.columns:
        out = out + np.where(flags[name].to_numpy(dtype=bool), name + ";", "")
    return out.str.rstrip(";")


def _exchange_write(
    rows: pd.DataFrame, action: str, reason: str, changed_fields=None
) -> pd.DataFrame:
    columns = {
        "entry_key": rows["entry_key"],
        "subject": rows["subject"],
        "body": rows["body"],
        "location": rows["location"],
        "start": rows["start"],
        "end": rows["end"],
        "all_day": rows["all_day"],
        "show_as": rows["show_as"],
        "categories": rows["categories"],
        "reminder_minutes": rows["reminder_minutes"],
        "content_hash": rows["content_hash"],
    }
    if action == "update":
        columns["item_id"] = rows["item_id"]
        columns["change_key"] = rows["x_change_key"]
        columns["changed_fields"] = changed_fields
        # For the summary: where the item is now.
        columns["_before_start"] = rows["x_start"]
        columns["_before_end"] = rows["x_end"]
        columns["_before_all_day"] = rows["x_all_day"]
    return _rows(rows, "exchange", action, reason, **columns)


def _exchange_delete(items: pd.DataFrame, reason: str) -> pd.DataFrame:
    key = items["entry_key"] if "entry_key" in items else items["tag_key"]
    return _rows(
        items,
        "exchange",
        "delete",
        reason,
        entry_key=key,
        item_id=items["item_id"],
        change_key=items["change_key"],
        _before_start=items["start"],
        _before_end=items["end"],
        _before_all_day=items["all_day"],
    )


# ---------------------------------------------------------------- in: Exchange -> platform


def _plan_in(mirrors, own, rules, in_ids):
    items = own[own["trainer_id"].isin(in_ids)]
    non_blocking = ["Free"] if not rules.in_.free_blocks else []
    if not rules.in_.tentative_blocks:
        non_blocking.append("Tentative")
    blocks = ~items["is_cancelled"] & ~items["show_as"].isin(non_blocking)

    orphan = mirrors["source_item_id"].isna()
    ranked = mirrors[~orphan].sort_values(["trainer_id", "source_item_id", "entry_key"])
    keeper = ~ranked.duplicated(["trainer_id", "source_item_id"])
    parts = [
        _platform_delete(mirrors[orphan], R.REMOVED_FROM_EXCHANGE),
        _platform_delete(ranked[~keeper], R.DUPLICATE),
    ]
    # Only identity and times of a trainer's own item are ever read from here on.
    item_view = items[["trainer_id", "item_id", "start", "end", "all_day"]].assign(
        blocks=blocks.to_numpy(dtype=bool), cancelled=items["is_cancelled"].to_numpy(dtype=bool)
    )
    merged = ranked[keeper].merge(
        item_view.rename(columns={"item_id": "source_item_id"}),
        on=["trainer_id", "source_item_id"],
        how="outer",
        suffixes=("_m", ""),
        indicator=True,
    )
    new = merged[(merged["_merge"] == "right_only") & merged["blocks"].fillna(False).astype(bool)]
    parts.append(_platform_write(new, "create", R.NEW_IN_EXCHANGE))
    gone = merged[merged["_merge"] == "left_only"]
    parts.append(_platform_delete(_mirror_view(gone), R.REMOVED_FROM_EXCHANGE))
    both = merged[merged["_merge"] == "both"]
    both_blocks = both["blocks"].astype(bool)
    cancelled = both["cancelled"].astype(bool)
    parts.append(
        _platform_delete(_mirror_view(both[~both_blocks & cancelled]), R.REMOVED_FROM_EXCHANGE)
    )
    parts.append(_platform_delete(_mirror_view(both[~both_blocks & ~cancelled]), R.NOW_FREE))
    live = both[both_blocks]
    moved = (
        (live["start"] != live["start_m"])
        | (live["end"] != live["end_m"])
        | (live["all_day"].astype(bool) != live["all_day_m"].astype(bool))
    )
    parts.append(_platform_write(live[moved], "update", R.CHANGED_IN_EXCHANGE))
    return parts


def _mirror_view(merged: pd.DataFrame) -> pd.DataFrame:
    return merged.assign(start=merged["start_m"], end=merged["end_m"], all_day=merged["all_day_m"])


def _platform_write(rows: pd.DataFrame, action: str, reason: str) -> pd.DataFrame:
    columns = {
        "start": rows["start"],
        "end": rows["end"],
        "all_day": rows["all_day"],
        "source_item_id": rows["source_item_id"],
    }
    if action == "update":
        columns["entry_key"] = rows["entry_key"]
        columns["_before_start"] = rows["start_m"]
        columns["_before_end"] = rows["end_m"]
        columns["_before_all_day"] = rows["all_day_m"]
    return _rows(rows, "platform", action, reason, **columns)


def _platform_delete(mirrors: pd.DataFrame, reason: str) -> pd.DataFrame:
    return _rows(
        mirrors,
        "platform",
        "delete",
        reason,
        entry_key=mirrors["entry_key"],
        source_item_id=mirrors["source_item_id"],
        _before_start=mirrors["start"],
        _before_end=mirrors["end"],
        _before_all_day=mirrors["all_day"],
    )


# ---------------------------------------------------------------- assembly, guard, summary

_EXTRA = ("_before_start", "_before_end", "_before_all_day")


def _assemble(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    columns = list(PLAN_COLUMNS) + list(_EXTRA)
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    plan = pd.concat([p.reindex(columns=columns) for p in parts], ignore_index=True)
    for name in ("start", "end", "_before_start", "_before_end"):
        plan[name] = pd.to_datetime(plan[name], utc=True).astype(UTC_TS)
    plan["held"] = False
    return plan


def _guard(plan, tagged, mirrors, rules, allow_mass_delete) -> pd.DataFrame:
    plan["held"] = False
    plan["hold_reason"] = None
    if allow_mass_delete or plan.empty:
        return plan
    guard = rules.mass_delete_guard
    reasons = pd.Series("", index=plan.index, dtype=object)
    for side, existing, label in (
        ("exchange", tagged, "exchange mirrors"),
        ("platform", mirrors, "platform mirrors"),
    ):
        deletes = plan[(plan["side"] == side) & (plan["action"] == "delete")]
        if deletes.empty:
            continue
        n_del = deletes.groupby("trainer_id").size()
        n_all = existing.groupby("trainer_id").size().reindex(n_del.index, fill_value=0)
        tripped = n_del[(n_del > guard.share * n_all) & (n_del > guard.min_count)]
        if tripped.empty:
            continue
        text = pd.Series(
            [
                f"{R.MASS_DELETE_GUARD}: would delete {d} of {n_all[t]} {label} "
                f"(> {guard.share:.0%} and > {guard.min_count})"
                for t, d in tripped.items()
            ],
            index=tripped.index,
            dtype=object,
        )
        hit = plan["trainer_id"].map(text).fillna("").to_numpy(dtype=object)
        joined = np.where(reasons == "", hit, reasons.to_numpy(dtype=object) + "; " + hit)
        reasons = pd.Series(np.where(hit == "", reasons, joined), index=plan.index, dtype=object)
    held = reasons != ""
    plan["held"] = held.to_numpy()
    plan["hold_reason"] = reasons.where(held, None)
    return plan


def _when_short(start: pd.Series, end: pd.Series, all_day: pd.Series, tz: str) -> np.ndarray:
    from sync_rules.render import format_when

    missing = start.isna() | end.isna()
    out = np.full(len(start), "", dtype=object)
    ok = ~missing.to_numpy()
    if ok.any():
        out[ok] = format_when(start[ok], end[ok], all_day[ok].fillna(False).astype(bool), tz)
    return out


def _summarise(plan: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    if plan.empty:
        plan["summary"] = pd.Series([], dtype=object)
        return plan.drop(columns=list(_EXTRA))
    tz = rules.timezone
    after = _when_short(plan["start"], plan["end"], plan["all_day"], tz)
    before = _when_short(plan["_before_start"], plan["_before_end"], plan["_before_all_day"], tz)
    is_x = (plan["side"] == "exchange").to_numpy()
    action = plan["action"].to_numpy(dtype=object)
    # Exchange rows name the engine's own rendering (platform content) or the entry key;
    # platform rows only ever say "Unavailable": a trainer's own text never appears.
    subject = plan["subject"].to_numpy(dtype=object, na_value="")
    key = plan["entry_key"].to_numpy(dtype=object, na_value="")
    fields = plan["changed_fields"].to_numpy(dtype=object, na_value="")
    x_label = np.where(subject != "", "'" + subject + "'", key)
    summary = np.select(
        [
            is_x & (action == "create"),
            is_x & (action == "update"),
            is_x & (action == "delete"),
            ~is_x & (action == "create"),
            ~is_x & (action == "update"),
        ],
        [
            "create " + x_label + ": " + after,
            "update " + x_label + " [" + fields + "]: " + before + " → " + after,
            "delete item of " + key + ": " + before,
            "create Unavailable: " + after,
            "move Unavailable: " + before + " → " + after,
        ],
        default="delete Unavailable: " + before,
    )
    plan["summary"] = summary
    plan = plan.drop(columns=list(_EXTRA))
    return plan.sort_values(
        ["trainer_id", "side", "action", "reason", "entry_key", "item_id"], na_position="last"
    ).reset_index(drop=True)


def _check_invariants(plan: pd.DataFrame, tagged: pd.DataFrame) -> None:
    x_change = plan[(plan["side"] == "exchange") & plan["action"].isin(["update", "delete"])]
    if len(x_change):
        ok = _isin(x_change, "item_id", _pairs(tagged, "item_id"))
        if not ok.all():
            raise RuntimeError("plan would modify an Exchange item the engine did not create")
    p_rows = plan[plan["side"] == "platform"]
    if len(p_rows) and p_rows[["subject", "body", "location"]].notna().any().any():
        raise RuntimeError("plan would copy a trainer's own item details into the platform")
