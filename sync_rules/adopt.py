"""Adopting tagged items into the link state when nothing needs writing to them.

An item can carry the engine's tag while the link state does not point at it: the mailbox
moved to another API (EWS ids are not Graph ids), the state was restored from a backup, or a
write's answer was lost. The plan already treats such an item as the entry's (it matches on
the tag); adopting it records its id and change key, so later cycles compare by change key
again instead of field by field.
"""

from __future__ import annotations

import pandas as pd

from sync_rules.pairs import keepers, pair_codes

_KEY = ["trainer_id", "entry_key"]


def adoptable_links(
    exchange: pd.DataFrame, links: pd.DataFrame, plan: pd.DataFrame
) -> pd.DataFrame:
    """Links to record: one per (trainer, tag key) whose link is missing or points at an item
    no longer seen, for keys the plan leaves alone. Columns: trainer_id, entry_key, item_id,
    change_key, content_hash (the hash in the item's tag)."""
    tagged = exchange.loc[
        exchange["tag_key"].notna(), ["trainer_id", "tag_key", "item_id", "change_key", "tag_hash"]
    ]
    tagged = tagged.rename(columns={"tag_key": "entry_key", "tag_hash": "content_hash"})
    # The plan's keeper of duplicates (docs/sync-semantics.md §Duplicates and keepers) where
    # no item is linked, which is the only case adopted: the smallest item id.
    (pairs,) = pair_codes((tagged["trainer_id"], tagged["entry_key"]))
    kept = tagged[keepers(pairs, tagged["item_id"].to_numpy(dtype=object))].sort_values(_KEY)
    seen = tagged[["trainer_id", "item_id"]].assign(seen=True)
    current = links[[*_KEY, "item_id"]].merge(seen, on=["trainer_id", "item_id"], how="left")
    valid = current.loc[current["seen"].eq(True), _KEY].assign(valid=True)
    touched = plan.loc[plan["side"] == "exchange", _KEY].dropna().assign(touched=True)
    candidates = kept.merge(valid, on=_KEY, how="left").merge(
        touched.drop_duplicates(_KEY), on=_KEY, how="left"
    )
    wanted = candidates["valid"].ne(True) & candidates["touched"].ne(True)
    return candidates.loc[wanted, [*_KEY, "item_id", "change_key", "content_hash"]].reset_index(
        drop=True
    )
