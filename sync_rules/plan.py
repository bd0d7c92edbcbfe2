"""The sync plan: one vectorised diff of the platform and Exchange frames of all trainers.

Each side is decided by one case table (docs/sync-semantics.md §Out cases, §In cases): every
candidate row (a tagged item or an entry to push; a mirror or a trainer's own item) gets a row
of boolean facts, and the first case whose condition holds chooses the row's action and
reason. The case names (O1…, I1…) are those of the document. Every step is a merge or a mask
over all trainers at once.

Hard invariants enforced here (the first two re-checked before returning; §Invariants):
- an Exchange item without the engine's tag is never updated or deleted;
- no subject, body or location of a trainer's own item ever reaches the platform side;
- a trainer whose mailbox was not read this cycle gets no action at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from sync_rules import reasons as R
from sync_rules.frames import (
    COMPARED_FIELDS,
    PLAN_COLUMNS,
    UTC_TS,
    OutsideWindowSchema,
    empty_frame,
    validate_exchange,
    validate_links,
    validate_outside_window,
    validate_plan,
    validate_platform,
    validate_trainers,
)
from sync_rules.guard import hold_reasons
from sync_rules.pairs import Mask, Positions, isin, keepers, lookup, pair_codes
from sync_rules.render import render_entries
from sync_rules.rules import InRules, Rules
from sync_rules.summary import BEFORE_COLUMNS, summary_lines
from sync_rules.vocabulary import MANAGED_FIELDS

Bounds = tuple[pd.Timestamp, pd.Timestamp]
Objects = npt.NDArray[np.object_]

#: A row of a case table: (condition, action, reason); action KEEP leaves the row's side alone.
Case = tuple[Any, str | None, str | None]
KEEP = None

_TEXT_FIELDS = ("subject", "body", "location")
# What a write carries besides the text, straight from the rendering.
_RENDERED_FIELDS = (*(name for name in MANAGED_FIELDS if name not in _TEXT_FIELDS), "content_hash")
# Managed fields the exchange frame cannot show: a platform-side change rewrites them.
_UNSEEN_FIELDS = tuple(name for name in MANAGED_FIELDS if name not in COMPARED_FIELDS)
_SORT = ["trainer_id", "side", "action", "reason", "entry_key", "item_id"]


def in_window(
    start: pd.Series, end: pd.Series, win_start: pd.Timestamp, win_end: pd.Timestamp
) -> pd.Series:
    """Rows overlapping [win_start, win_end) (zero-length rows count if they sit inside)."""
    return (start < win_end) & ((end > win_start) | ((end == start) & (start >= win_start)))


def blocking(items: pd.DataFrame, in_rules: InRules) -> Mask:
    """Which of a trainer's own items (rows of the exchange frame) block their time
    (docs/sync-semantics.md §Directions): Busy, OOF, WorkingElsewhere and NoData always; Free
    only with `in.free_blocks`, Tentative unless `in.tentative_blocks` is false; a cancelled
    item never."""
    non_blocking = [] if in_rules.free_blocks else ["Free"]
    if not in_rules.tentative_blocks:
        non_blocking.append("Tentative")
    cancelled = items["is_cancelled"].to_numpy(dtype=bool)
    return np.asarray(~cancelled & ~items["show_as"].isin(non_blocking).to_numpy(dtype=bool))


def window_bounds(rules: Rules, now: datetime | pd.Timestamp) -> Bounds:
    """The (start, end) of the sync window around `now` (tz-aware)."""
    now_ts = pd.Timestamp(now)
    if now_ts.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now_ts = now_ts.tz_convert("UTC")
    return now_ts - rules.window.past, now_ts + rules.window.future


def build_plan(
    trainers: pd.DataFrame,
    platform: pd.DataFrame,
    exchange: pd.DataFrame,
    links: pd.DataFrame,
    rules: Rules,
    now: datetime | pd.Timestamp,
    outside_window: pd.DataFrame | None = None,
    allow_mass_delete: bool = False,
) -> pd.DataFrame:
    """Plan every action that brings both sides of all given trainers in line
    (docs/sync-semantics.md).

    `outside_window` names (trainer, entry key) of entries that still exist but lie outside
    the window: their items are kept. Returns a validated plan frame (`frames.PlanSchema`), one
    row per action, sorted by trainer, side, action, reason and keys. Rows of a trainer
    tripping the mass-deletion guard are `held` with a `hold_reason` unless
    `allow_mass_delete`.
    """
    trainers = validate_trainers(trainers)
    platform = validate_platform(platform)
    exchange = validate_exchange(exchange)
    links = validate_links(links)
    outside_window = validate_outside_window(
        outside_window if outside_window is not None else empty_frame(OutsideWindowSchema)
    )
    window = window_bounds(rules, now)

    # Only trainers whose mailbox was read take part (§Participation): for the others an
    # absent item would look like a deletion.
    read = trainers[trainers["exchange_read"]]
    enabled = read[read["calendar_enabled"]]
    out_ids = enabled.loc[enabled["direction"].isin(["out", "both"]), "trainer_id"]
    in_ids = enabled.loc[enabled["direction"].isin(["in", "both"]), "trainer_id"]
    platform = _rows_where(platform, platform["trainer_id"].isin(read["trainer_id"]))
    exchange = _rows_where(
        exchange,
        exchange["trainer_id"].isin(read["trainer_id"])
        & in_window(exchange["start"], exchange["end"], *window),
    )
    is_tagged = exchange["tag_key"].notna()
    tagged, trainer_items = exchange[is_tagged], exchange[~is_tagged]
    mirrors = platform[platform["origin"] == "exchange"]
    # Mirrors in the window take part, and so does a mirror left outside it whose item is
    # back in the window (it follows the item in); the rest are left alone: not in the
    # window never means deleted.
    mirror_pair, item_pair = pair_codes(
        (mirrors["trainer_id"], mirrors["source_item_id"]),
        (trainer_items["trainer_id"], trainer_items["item_id"]),
    )
    mirrors = _rows_where(
        mirrors,
        in_window(mirrors["start"], mirrors["end"], *window) | isin(mirror_pair, item_pair),
    )

    plan = pd.concat(
        [
            _plan_out(platform, tagged, links, outside_window, rules, out_ids, window),
            _plan_in(mirrors, trainer_items, rules, in_ids),
        ],
        ignore_index=True,
    )
    for name in ("start", "end", "modified_at", "_before_start", "_before_end"):
        plan[name] = pd.to_datetime(plan[name], utc=True).astype(UTC_TS)
    held_because = (
        pd.Series(None, index=plan.index, dtype=object)
        if allow_mass_delete
        else hold_reasons(plan, tagged, mirrors, rules.mass_delete_guard)
    )
    plan["held"] = held_because.notna().to_numpy(dtype=bool)
    plan["hold_reason"] = held_because
    plan["summary"] = summary_lines(plan, rules.timezone)
    plan = plan.drop(columns=list(BEFORE_COLUMNS))
    plan = plan.sort_values(_SORT, na_position="last").reset_index(drop=True)
    _check_invariants(plan, tagged)
    return validate_plan(plan)


# ---------------------------------------------------------------- out: platform -> Exchange


def _out_cases(f: pd.DataFrame, remove_when_off: bool) -> list[Case]:
    """The out case table over the facts of `_plan_out` (docs/sync-semantics.md §Out cases)."""
    return [
        # O1 The trainer's outbound direction (or calendar) is off and the rule says remove:
        #    the engine takes its items back.
        (f.has_item & ~f.direction_on & remove_when_off, "delete", R.DIRECTION_OFF),
        # O2 Direction off, rule keep: what was pushed stays, untouched.
        (~f.direction_on, KEEP, None),
        # O3 The entry still exists, but outside the window, and only its key is known: its
        #    item must not stay where it is (the entry is not there any more), so it goes;
        #    the entry gets an item again once it is in the window.
        (
            f.has_item & ~f.has_entry & ~f.entry_elsewhere & f.exists_outside_window,
            "delete",
            R.MOVED_OUT_OF_WINDOW,
        ),
        # O4 The entry is gone: removed, cancelled, unassigned, or its kind no longer pushed.
        (f.has_item & ~f.has_entry & ~f.entry_elsewhere, "delete", R.REMOVED_FROM_PLATFORM),
        # O5 Several items carry one entry's tag: the keeper stays, the others go.
        (f.has_item & ~f.keeper, "delete", R.DUPLICATE),
        # O6 The entry moved outside the window (rescheduled far ahead, or into the past)
        #    and its row is known: the item follows it there, and is then left alone
        #    ("not in the window never means deleted").
        (f.has_item & f.entry_elsewhere, "update", R.MOVED_OUT_OF_WINDOW),
        # O7 The engine wrote the entry's item before (a link exists) and it is gone: the
        #    platform wins over a deletion in Outlook.
        (~f.has_item & f.link_exists, "create", R.DELETED_IN_EXCHANGE),
        # O8 An entry no item carries yet: create one, tagged with its key and hash.
        (~f.has_item, "create", R.NEW_IN_PLATFORM),
        # O9 The rendering differs from what the engine last wrote: the platform changed.
        (f.hash_changed, "update", R.CHANGED_IN_PLATFORM),
        # O10 Same rendering, and the change key is the one of the engine's last write.
        (f.change_key_same, KEEP, None),
        # O11 The change key moved and a managed field differs: the trainer edited the item,
        #     and the platform wins; the differing fields are written back.
        (f.fields_differ, "update", R.TAMPERED_IN_EXCHANGE),
        # O12 Otherwise the change key moved without a managed change (a personal category
        #     or reminder, CR/LF in the body): nothing to write.
    ]


def _plan_out(
    platform: pd.DataFrame,
    tagged: pd.DataFrame,
    links: pd.DataFrame,
    outside_window: pd.DataFrame,
    rules: Rules,
    out_ids: pd.Series,
    window: Bounds,
) -> pd.DataFrame:
    """Exchange rows: the facts of every tagged item in the window and of every entry to push
    that no tagged item carries, decided by the out case table."""
    entries = _pushed_entries(platform, rules, out_ids)
    # Hash every entry; subject, body and location are rendered below, only where needed.
    rendered = render_entries(entries, rules, text=False)
    inside = np.asarray(in_window(rendered["start"], rendered["end"], *window), dtype=bool)
    entry_pair, item_pair, link_pair, outside_pair = pair_codes(
        (entries["trainer_id"], entries["entry_key"]),
        (tagged["trainer_id"], tagged["tag_key"]),
        (links["trainer_id"], links["entry_key"]),
        (outside_window["trainer_id"], outside_window["entry_key"]),
    )
    pushed = np.flatnonzero(inside)
    without_item = pushed[~isin(entry_pair[pushed], item_pair)]
    # The candidates: every tagged item, then every pushed entry without one. Per candidate,
    # the positions of its item, entry and link (-1: none). An item's entry may render
    # outside the window (handed over by the caller because it still exists).
    item = np.concatenate([np.arange(len(tagged)), np.full(len(without_item), -1)])
    entry = np.concatenate([lookup(item_pair, entry_pair), without_item])
    pair = np.concatenate([item_pair, entry_pair[without_item]])
    link = lookup(pair, link_pair)
    trainer = np.concatenate(
        [_ids(tagged["trainer_id"]), _ids(entries["trainer_id"])[without_item]]
    )

    has_item = item >= 0
    entry_inside = _flag_at(inside, entry)
    has_entry = entry_inside
    entry_elsewhere = (entry >= 0) & ~entry_inside
    item_id = _take(tagged["item_id"], item)
    linked = _same(item_id, _take(links["item_id"], link))
    # What the item holds by the engine's last write: the link's hash, or the tag's for an
    # item the links do not know (restored state, a lost answer, another API's ids).
    link_hash = _take(links["content_hash"], link)
    written_hash = np.where(
        linked & pd.notna(link_hash), link_hash, _take(tagged["tag_hash"], item)
    )
    hash_changed = (
        has_item & has_entry & ~_same(_take(rendered["content_hash"], entry), written_hash)
    )
    change_key_same = linked & _same(
        _take(tagged["change_key"], item), _take(links["change_key"], link)
    )
    keeper = keepers(pair, ~linked, np.asarray(item_id, dtype=object))
    # Subject, body and location are rendered only where they may be written (creates) or
    # must be compared field by field (the keeper of an entry whose hash or change key moved).
    compared = np.flatnonzero(has_item & has_entry & keeper & (hash_changed | ~change_key_same))
    written = np.flatnonzero(~has_item | (has_item & entry_elsewhere & keeper))
    texts = _texts(entries, entry, np.union1d(compared, written), rules)
    wanted = rendered.iloc[entry[compared]].reset_index(drop=True)
    for name in _TEXT_FIELDS:
        wanted[name] = texts[name][compared]
    diffs = _field_diffs(wanted, tagged.iloc[item[compared]].reset_index(drop=True))
    fields_differ = np.zeros(len(pair), dtype=bool)
    fields_differ[compared] = diffs.any(axis=1).to_numpy(dtype=bool)

    facts = pd.DataFrame(
        {
            "has_item": has_item,
            "has_entry": has_entry,
            "direction_on": isin(trainer, _ids(out_ids)),
            "entry_elsewhere": entry_elsewhere,
            "exists_outside_window": isin(pair, outside_pair),
            "keeper": keeper,
            "link_exists": link >= 0,
            "hash_changed": hash_changed,
            "change_key_same": change_key_same,
            "fields_differ": fields_differ,
        }
    )
    action, reason = _decide(_out_cases(facts, rules.on_direction_off == "remove"))

    acted = np.flatnonzero(pd.notna(action))
    a_item, a_entry, a_action, a_reason = item[acted], entry[acted], action[acted], reason[acted]
    writes = a_action != "delete"
    rendering = np.where(writes, a_entry, -1)
    # An update names the fields it writes: those that differ, and for a platform change
    # also the managed fields the exchange frame cannot show.
    differing = _per_row(len(pair), compared, _joined_names(diffs))
    rewritten = _per_row(
        len(pair), compared, _joined_names(diffs.assign(**dict.fromkeys(_UNSEEN_FIELDS, True)))
    )
    # An item moving with its entry out of the window is rewritten whole.
    everything = ";".join((*COMPARED_FIELDS, *_UNSEEN_FIELDS))
    changed_fields = np.select(
        [a_reason == R.CHANGED_IN_PLATFORM, a_reason == R.MOVED_OUT_OF_WINDOW],
        [rewritten[acted], everything],
        default=differing[acted],
    )
    return _side_rows(
        "exchange",
        trainer[acted],
        a_action,
        a_reason,
        {
            "entry_key": _first_of((tagged["tag_key"], a_item), (entries["entry_key"], a_entry)),
            "item_id": _take(tagged["item_id"], a_item),
            "change_key": _take(tagged["change_key"], a_item),
            **{name: _only(writes, texts[name][acted]) for name in _TEXT_FIELDS},
            **{name: _take(rendered[name], rendering) for name in _RENDERED_FIELDS},
            "changed_fields": _only(a_action == "update", changed_fields),
            # Who edited the item in Outlook, for the tamper report; a deleted item has none.
            **{
                name: _only(a_reason == R.TAMPERED_IN_EXCHANGE, _take(tagged[name], a_item))
                for name in ("modified_by", "modified_at")
            },
            **_before(tagged, a_item),
        },
    )


def _pushed_entries(platform: pd.DataFrame, rules: Rules, out_ids: pd.Series) -> pd.DataFrame:
    """The entries that go out: of outbound trainers, of the kinds the rules push and of
    platform origin only, never the mirrors of a trainer's own items (§Echo suppression)."""
    kinds = [
        kind
        for kind, on in (
            ("session", rules.out.sessions),
            ("unavailability", rules.out.unavailability),
        )
        if on
    ]
    return _rows_where(
        platform,
        (platform["origin"] == "platform")
        & platform["kind"].isin(kinds)
        & platform["trainer_id"].isin(out_ids),
    )


def _texts(
    entries: pd.DataFrame, entry: Positions, candidates: Positions, rules: Rules
) -> dict[str, Objects]:
    """Per candidate row, the rendered subject, body and location of its entry, for the
    given `candidates` only (None elsewhere)."""
    rendered = render_entries(entries.iloc[entry[candidates]], rules)
    return {
        name: _per_row(len(entry), candidates, rendered[name].to_numpy(dtype=object))
        for name in _TEXT_FIELDS
    }


def _norm_text(values: pd.Series) -> pd.Series:
    # Exchange may hand text back with CR/LF and trailing whitespace; those are not edits.
    text = values.astype(object).where(values.notna(), "").astype(str)
    return (
        text.str.replace("\r\n", "\n", regex=False).str.replace("\r", "\n", regex=False).str.strip()
    )


def _field_diffs(wanted: pd.DataFrame, seen: pd.DataFrame) -> pd.DataFrame:
    """Which compared fields of `seen` (items) differ from `wanted` (renderings), row by row."""
    diffs = {}
    for name in _TEXT_FIELDS:
        diffs[name] = _norm_text(wanted[name]) != _norm_text(seen[name])
    for name in ("start", "end", "show_as"):
        diffs[name] = (wanted[name] != seen[name]).fillna(True).astype(bool)
    diffs["all_day"] = wanted["all_day"].astype(bool) != seen["all_day"].astype(bool)
    return pd.DataFrame(diffs, index=wanted.index)[list(COMPARED_FIELDS)]


def _joined_names(flags: pd.DataFrame) -> Objects:
    """Per row, the `;`-joined names of the columns that are True."""
    out = pd.Series("", index=flags.index, dtype=object)
    for name in flags.columns:
        out = out + np.where(flags[name].to_numpy(dtype=bool), name + ";", "")
    return np.asarray(out.str.rstrip(";"), dtype=object)


# ---------------------------------------------------------------- in: Exchange -> platform


def _in_cases(f: pd.DataFrame, remove_when_off: bool) -> list[Case]:
    """The in case table over the facts of `_plan_in` (docs/sync-semantics.md §In cases)."""
    return [
        # I1 The trainer's inbound direction (or calendar) is off and the rule says remove:
        #    the engine takes its mirrors back.
        (f.has_mirror & ~f.direction_on & remove_when_off, "delete", R.DIRECTION_OFF),
        # I2 Direction off, rule keep: the mirrors stay, untouched.
        (~f.direction_on, KEEP, None),
        # I3 Several mirrors name one item: the keeper stays, the others go.
        (f.has_mirror & ~f.keeper, "delete", R.DUPLICATE),
        # I4 The item is not in the window any more (deleted, or moved out of it), is
        #    cancelled, or the mirror names no item: nothing blocks the trainer there.
        (f.has_mirror & (~f.has_item | f.cancelled), "delete", R.REMOVED_FROM_EXCHANGE),
        # I5 The item shows as Free or Tentative now, and the rules say that does not block.
        (f.has_mirror & ~f.blocks, "delete", R.NOW_FREE),
        # I6 A trainer's item that does not block: nothing to mirror.
        (~f.blocks, KEEP, None),
        # I7 A blocking item of the trainer without a mirror: create an "Unavailable" entry.
        (~f.has_mirror, "create", R.NEW_IN_EXCHANGE),
        # I8 The item's start, end or all-day flag moved: the mirror follows.
        (f.moved, "update", R.CHANGED_IN_EXCHANGE),
        # I9 Otherwise the mirror shows the item's times: nothing to do.
    ]


def _plan_in(
    mirrors: pd.DataFrame, trainer_items: pd.DataFrame, rules: Rules, in_ids: pd.Series
) -> pd.DataFrame:
    """Platform rows: the facts of every "Unavailable" mirror in the window and of every item
    of an inbound trainer's own that no mirror names, decided by the in case table.

    Only the identity and times of a trainer's own item are read here (§Ownership): its
    subject, body and location never reach the platform."""
    items = _rows_where(trainer_items, trainer_items["trainer_id"].isin(in_ids))
    mirror_pair, item_pair = pair_codes(
        (mirrors["trainer_id"], mirrors["source_item_id"]),
        (items["trainer_id"], items["item_id"]),
    )
    unmirrored = np.flatnonzero(~isin(item_pair, mirror_pair))
    # The candidates: every mirror, then every item no mirror names. Per candidate, the
    # positions of its mirror and item (-1: none).
    mirror = np.concatenate([np.arange(len(mirrors)), np.full(len(unmirrored), -1)])
    item = np.concatenate([lookup(mirror_pair, item_pair), unmirrored])
    trainer = np.concatenate([_ids(mirrors["trainer_id"]), _ids(items["trainer_id"])[unmirrored]])

    cancelled = items["is_cancelled"].to_numpy(dtype=bool)
    blocks = blocking(items, rules.in_)
    has_mirror, has_item = mirror >= 0, item >= 0
    moved = (
        has_mirror
        & has_item
        & (
            _differ(_take(mirrors["start"], mirror), _take(items["start"], item))
            | _differ(_take(mirrors["end"], mirror), _take(items["end"], item))
            | (_flag_at(mirrors["all_day"], mirror) != _flag_at(items["all_day"], item))
        )
    )
    facts = pd.DataFrame(
        {
            "has_mirror": has_mirror,
            "has_item": has_item,
            "direction_on": isin(trainer, _ids(in_ids)),
            # Of several mirrors naming one item, the smallest entry key is kept.
            "keeper": np.concatenate(
                [
                    keepers(mirror_pair, mirrors["entry_key"].to_numpy(dtype=object)),
                    np.ones(len(unmirrored), dtype=bool),
                ]
            ),
            "cancelled": _flag_at(cancelled, item),
            "blocks": _flag_at(blocks, item),
            "moved": moved,
        }
    )
    action, reason = _decide(_in_cases(facts, rules.on_direction_off == "remove"))

    acted = np.flatnonzero(pd.notna(action))
    a_mirror, a_item, a_action = mirror[acted], item[acted], action[acted]
    times = np.where(a_action != "delete", a_item, -1)
    return _side_rows(
        "platform",
        trainer[acted],
        a_action,
        reason[acted],
        {
            "entry_key": _take(mirrors["entry_key"], a_mirror),
            "source_item_id": _first_of(
                (mirrors["source_item_id"], a_mirror), (items["item_id"], a_item)
            ),
            "start": _take(items["start"], times),
            "end": _take(items["end"], times),
            "all_day": _take(items["all_day"], times),
            **_before(mirrors, a_mirror),
        },
    )


# ---------------------------------------------------------------- shared helpers


def _decide(cases: Sequence[Case]) -> tuple[Objects, Objects]:
    """Per row, the action and reason of the first case whose condition holds (None where
    none does): a case table reads top to bottom."""
    chosen = np.select(
        [np.asarray(condition, dtype=bool) for condition, _, _ in cases],
        np.arange(len(cases)),
        default=-1,
    )
    # Index -1 picks the appended "nothing to do".
    actions = np.array([action for _, action, _ in cases] + [KEEP], dtype=object)
    reasons = np.array([reason for _, _, reason in cases] + [None], dtype=object)
    return actions[chosen], reasons[chosen]


def _side_rows(
    side: str,
    trainer_ids: npt.NDArray[np.int64],
    action: Objects,
    reason: Objects,
    columns: dict[str, Any],
) -> pd.DataFrame:
    """A side's plan rows with every plan column (missing ones empty) and the summary's."""
    frame = pd.DataFrame(
        {"trainer_id": trainer_ids, "side": side, "action": action, "reason": reason, **columns},
        index=pd.RangeIndex(len(trainer_ids)),
    )
    return frame.reindex(columns=[*PLAN_COLUMNS, *BEFORE_COLUMNS])


def _before(frame: pd.DataFrame, positions: Positions) -> dict[str, Any]:
    """Where the item or mirror at `positions` is now, for the summary."""
    return {
        "_before_start": _take(frame["start"], positions),
        "_before_end": _take(frame["end"], positions),
        "_before_all_day": _take(frame["all_day"], positions),
    }


def _rows_where(frame: pd.DataFrame, mask: Any) -> pd.DataFrame:
    """`frame[mask]`, without copying every column when the mask keeps every row."""
    keep = np.asarray(mask, dtype=bool)
    return frame if keep.all() else frame[keep]


def _ids(trainer_ids: pd.Series) -> npt.NDArray[np.int64]:
    return np.asarray(trainer_ids, dtype=np.int64)


def _at(positions: Positions, indices: Positions) -> Positions:
    """`positions[indices]`, -1 where an index is -1 (also when `positions` is empty)."""
    return np.append(positions, -1)[indices]


def _take(column: pd.Series, positions: Positions) -> Any:
    """The values of `column` at `positions`, missing where a position is -1."""
    return column.array.take(positions, allow_fill=True)


def _per_row(n: int, rows: Positions, values: Any) -> Objects:
    """`n` values: `values` at `rows`, None elsewhere."""
    out = np.full(n, None, dtype=object)
    out[rows] = np.asarray(values, dtype=object)
    return out


def _first_of(first: tuple[pd.Series, Positions], second: tuple[pd.Series, Positions]) -> Any:
    """Per row, the value at the first (column, positions) pair whose position exists."""
    (column, positions), (fallback, fallback_positions) = first, second
    return np.where(positions >= 0, _take(column, positions), _take(fallback, fallback_positions))


def _only(mask: Mask, values: Any) -> Objects:
    """`values` where `mask`, None elsewhere."""
    out = np.array(values, dtype=object)
    out[~mask] = None
    return out


def _flag_at(flags: Any, positions: Positions) -> Mask:
    """Boolean `flags` at `positions`, False where a position is -1."""
    return np.append(np.asarray(flags, dtype=bool), False)[positions]


def _same(left: Any, right: Any) -> Mask:
    """Where both values are present and equal."""
    equal = pd.Series(left, dtype=object) == pd.Series(right, dtype=object)
    return np.asarray(equal & pd.notna(left) & pd.notna(right), dtype=bool)


def _differ(left: Any, right: Any) -> Mask:
    """Where the values differ, or one is missing."""
    return np.asarray((pd.Series(left) != pd.Series(right)).fillna(True), dtype=bool)


def _check_invariants(plan: pd.DataFrame, tagged: pd.DataFrame) -> None:
    x_change = plan[(plan["side"] == "exchange") & plan["action"].isin(["update", "delete"])]
    if len(x_change):
        targets, engine_items = pair_codes(
            (x_change["trainer_id"], x_change["item_id"]), (tagged["trainer_id"], tagged["item_id"])
        )
        if not isin(targets, engine_items).all():
            raise RuntimeError("plan would modify an Exchange item the engine did not create")
    p_rows = plan[plan["side"] == "platform"]
    if len(p_rows) and p_rows[list(_TEXT_FIELDS)].notna().any().any():
        raise RuntimeError("plan would copy a trainer's own item details into the platform")
