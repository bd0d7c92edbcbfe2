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
from sync_rules.render import format_when, render_entries
from sync_rules.rules import Rules

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


def _pair_codes(*keyed: tuple[pd.Series, pd.Series]) -> list[np.ndarray]:
    """Encode (trainer_id, key) pairs of several frames as comparable int64 codes, so joins
    and membership tests run on integers rather than on pairs of strings."""
    keys = pd.concat([key.astype(object) for _, key in keyed], ignore_index=True)
    codes, _ = pd.factorize(keys, use_na_sentinel=True)
    out, offset = [], 0
    for trainer_ids, key in keyed:
        part = codes[offset : offset + len(key)].astype(np.int64)
        offset += len(key)
        pair = (trainer_ids.to_numpy(dtype=np.int64) << 32) | np.where(part < 0, 0xFFFFFFFF, part)
        out.append(pair)
    return out


def _rows_where(frame: pd.DataFrame, mask) -> pd.DataFrame:
    """`frame[mask]`, without copying every column when the mask keeps every row."""
    mask = np.asarray(mask, dtype=bool)
    return frame if mask.all() else frame[mask]


def _isin(values: np.ndarray, universe: np.ndarray) -> np.ndarray:
    if len(values) == 0 or len(universe) == 0:
        return np.zeros(len(values), dtype=bool)
    return np.asarray(pd.Series(values).isin(universe))


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

    platform = _rows_where(platform, platform["trainer_id"].isin(read_ids))
    exchange = _rows_where(
        exchange,
        exchange["trainer_id"].isin(read_ids)
        & in_window(exchange["start"], exchange["end"], win_start, win_end),
    )
    tagged_mask = exchange["tag_key"].notna()
    tagged = exchange[tagged_mask]
    own = exchange[~tagged_mask]

    parts: list[pd.DataFrame] = []
    parts += _plan_out(platform, tagged, links, live_elsewhere, rules, out_ids, win_start, win_end)
    if remove_off:
        off = tagged[~tagged["trainer_id"].isin(out_ids)]
        parts.append(_exchange_delete(off, R.DIRECTION_OFF))

    mirrors = platform[platform["origin"] == "exchange"]
    mirrors = _rows_where(mirrors, in_window(mirrors["start"], mirrors["end"], win_start, win_end))
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
        kind
        for kind, on in (
            ("session", rules.out.sessions),
            ("unavailability", rules.out.unavailability),
        )
        if on
    ]
    # Echo suppression: only platform-origin entries go out.
    entries = _rows_where(
        platform,
        (platform["origin"] == "platform")
        & platform["kind"].isin(kinds)
        & platform["trainer_id"].isin(out_ids),
    )
    items = _rows_where(tagged, tagged["trainer_id"].isin(out_ids))
    e_pair, i_pair, l_pair, le_pair = _pair_codes(
        (entries["trainer_id"], entries["entry_key"]),
        (items["trainer_id"], items["tag_key"]),
        (links["trainer_id"], links["entry_key"]),
        (live_elsewhere["trainer_id"], live_elsewhere["entry_key"]),
    )
    # Hash every entry; subject/body/location are rendered later, only where written.
    hashed = render_entries(entries, rules, text=False)
    inside = in_window(hashed["start"], hashed["end"], win_start, win_end).to_numpy()
    # Entries handed over that render outside the window still exist: never delete their
    # items (window rule), same as the explicit live-elsewhere keys.
    protected = np.concatenate([e_pair[~inside], le_pair])
    desired = hashed[inside].assign(pair=e_pair[inside], row=np.flatnonzero(inside))

    items = items.assign(pair=i_pair)
    link_view = pd.DataFrame(
        {
            "pair": l_pair,
            "link_item_id": links["item_id"].to_numpy(),
            "link_change_key": links["change_key"].to_numpy(),
            "link_hash": links["content_hash"].to_numpy(),
        }
    )
    items = items.merge(link_view, on="pair", how="left")
    items["is_linked"] = (items["item_id"] == items["link_item_id"]).fillna(False).astype(bool)
    items["keeper"] = _keepers(items)
    live = _isin(items["pair"].to_numpy(), desired["pair"].to_numpy())
    elsewhere = _isin(items["pair"].to_numpy(), protected)
    keeper = items["keeper"].to_numpy()

    parts = [
        _exchange_delete(items[~live & ~elsewhere], R.REMOVED_FROM_PLATFORM),
        _exchange_delete(items[live & ~keeper], R.DUPLICATE),
    ]

    keepers = items[live & keeper].drop(columns=["trainer_id"])
    renamed = {c: f"x_{c}" for c in (*COMPARED_FIELDS, "change_key")}
    merged = desired.merge(
        keepers.rename(columns=renamed), on="pair", how="left", indicator=True, sort=False
    )
    missing = merged[merged["_merge"] == "left_only"]
    has_link = _isin(missing["pair"].to_numpy(), l_pair)

    matched = merged[merged["_merge"] == "both"]
    is_linked = matched["is_linked"].astype(bool)
    recorded = matched["link_hash"].where(
        is_linked & matched["link_hash"].notna(), matched["tag_hash"]
    )
    hash_changed = (matched["content_hash"] != recorded).fillna(True).astype(bool)
    ck_same = (
        is_linked & (matched["x_change_key"] == matched["link_change_key"]).fillna(False)
    ).astype(bool)
    suspect = matched[(hash_changed | ~ck_same).to_numpy()]
    changed = hash_changed[(hash_changed | ~ck_same).to_numpy()]

    # Render the text of just the rows that may be written (missing and suspect are disjoint).
    rows = np.concatenate([missing["row"].to_numpy(), suspect["row"].to_numpy()])
    texts = render_entries(entries.iloc[rows], rules)[["subject", "body", "location"]]
    texts.index = rows
    missing = missing.join(texts, on="row")
    suspect = suspect.join(texts, on="row")
    entry_keys = entries["entry_key"].to_numpy()
    missing = missing.assign(
        trainer_id=entries["trainer_id"].to_numpy()[missing["row"]],
        entry_key=entry_keys[missing["row"]],
    )
    suspect = suspect.assign(
        trainer_id=entries["trainer_id"].to_numpy()[suspect["row"]],
        entry_key=entry_keys[suspect["row"]],
    )
    parts.append(_exchange_write(missing[~has_link], "create", R.NEW_IN_PLATFORM))
    parts.append(_exchange_write(missing[has_link], "create", R.DELETED_IN_EXCHANGE))

    if len(suspect):
        diffs = _field_diffs(suspect)
        any_diff = diffs.any(axis=1).to_numpy()
        changed = changed.to_numpy()
        names = _joined_names(diffs)
        unseen = pd.DataFrame(True, index=diffs.index, columns=list(_UNSEEN_FIELDS))
        platform_names = _joined_names(pd.concat([diffs, unseen], axis=1))
        parts.append(
            _exchange_write(
                suspect[changed],
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


def _keepers(items: pd.DataFrame) -> np.ndarray:
    """One item per (trainer, key): the linked one if present, else the smallest item id.
    Only the (rare) duplicated keys need sorting."""
    keeper = np.ones(len(items), dtype=bool)
    dup = items["pair"].duplicated(keep=False).to_numpy()
    if dup.any():
        group = items[dup].sort_values(
            ["pair", "is_linked", "item_id"], ascending=[True, False, True]
        )
        first = ~group["pair"].duplicated()
        keeper[np.flatnonzero(dup)] = first.reindex(items.index[dup]).to_numpy()
    return keeper


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
    items = _rows_where(own, own["trainer_id"].isin(in_ids))
    non_blocking = ["Free"] if not rules.in_.free_blocks else []
    if not rules.in_.tentative_blocks:
        non_blocking.append("Tentative")
    blocks = ~items["is_cancelled"] & ~items["show_as"].isin(non_blocking)

    m_pair, i_pair = _pair_codes(
        (mirrors["trainer_id"], mirrors["source_item_id"]), (items["trainer_id"], items["item_id"])
    )
    orphan = mirrors["source_item_id"].isna().to_numpy()
    linked = mirrors[~orphan].assign(pair=m_pair[~orphan])
    keeper = np.ones(len(linked), dtype=bool)
    dup = linked["pair"].duplicated(keep=False).to_numpy()
    if dup.any():
        # Several mirrors of one item: keep the smallest entry key.
        group = linked[dup].sort_values(["pair", "entry_key"])
        keeper[dup] = (~group["pair"].duplicated()).reindex(linked.index[dup]).to_numpy()
    parts = [
        _platform_delete(mirrors[orphan], R.REMOVED_FROM_EXCHANGE),
        _platform_delete(linked[~keeper], R.DUPLICATE),
    ]
    kept = linked[keeper]
    # Only identity and times of a trainer's own item are ever read from here on.
    mirror_view = pd.DataFrame(
        {
            "pair": kept["pair"].to_numpy(),
            "entry_key": kept["entry_key"].to_numpy(),
            "trainer_id_m": kept["trainer_id"].to_numpy(),
            "start_m": kept["start"].array,
            "end_m": kept["end"].array,
            "all_day_m": kept["all_day"].to_numpy(),
            "source_item_id_m": kept["source_item_id"].to_numpy(),
        }
    )
    item_view = pd.DataFrame(
        {
            "pair": i_pair,
            "trainer_id_i": items["trainer_id"].to_numpy(),
            "source_item_id": items["item_id"].to_numpy(),
            "start": items["start"].array,
            "end": items["end"].array,
            "all_day": items["all_day"].to_numpy(),
            "blocks": blocks.to_numpy(dtype=bool),
            "cancelled": items["is_cancelled"].to_numpy(dtype=bool),
        }
    )
    merged = mirror_view.merge(item_view, on="pair", how="outer", indicator=True, sort=False)
    merged["trainer_id"] = merged["trainer_id_m"].fillna(merged["trainer_id_i"]).astype(np.int64)
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
    return merged.assign(
        start=merged["start_m"],
        end=merged["end_m"],
        all_day=merged["all_day_m"],
        source_item_id=merged["source_item_id_m"],
    )


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
        targets, engine_items = _pair_codes(
            (x_change["trainer_id"], x_change["item_id"]), (tagged["trainer_id"], tagged["item_id"])
        )
        ok = _isin(targets, engine_items)
        if not ok.all():
            raise RuntimeError("plan would modify an Exchange item the engine did not create")
    p_rows = plan[plan["side"] == "platform"]
    if len(p_rows) and p_rows[["subject", "body", "location"]].notna().any().any():
        raise RuntimeError("plan would copy a trainer's own item details into the platform")
