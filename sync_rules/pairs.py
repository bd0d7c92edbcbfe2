"""(trainer, key) pairs as integers, and the one keeper among rows that share a pair.

The plan joins frames on pairs such as (trainer_id, entry_key) or (trainer_id, item_id).
Encoding each pair as one int64 lets those joins and membership tests run on integers over
all trainers at once, instead of on pairs of strings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

Codes = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
Positions = npt.NDArray[np.intp]

#: The code of a pair whose key is missing: it matches nothing, not even itself.
NO_PAIR = -1


def pair_codes(*keyed: tuple[pd.Series, pd.Series]) -> list[Codes]:
    """Encode the (trainer_id, key) pairs of several frames: equal pairs get equal codes,
    across all the frames given together."""
    keys = pd.concat([key.astype(object) for _, key in keyed], ignore_index=True)
    codes = np.asarray(pd.factorize(keys, use_na_sentinel=True)[0], dtype=np.int64)
    out, offset = [], 0
    for trainer_ids, key in keyed:
        part = codes[offset : offset + len(key)]
        offset += len(key)
        pair = (np.asarray(trainer_ids, dtype=np.int64) << 32) | part
        out.append(np.where(part < 0, NO_PAIR, pair))
    return out


def isin(pairs: Codes, universe: Codes) -> Mask:
    """Which of `pairs` occur in `universe`."""
    if len(pairs) == 0 or len(universe) == 0:
        return np.zeros(len(pairs), dtype=bool)
    found: Mask = np.asarray(pd.Series(pairs).isin(universe), dtype=bool)
    return found & np.not_equal(pairs, NO_PAIR)


def lookup(pairs: Codes, unique: Codes) -> Positions:
    """The position of each of `pairs` in `unique` (pairs without repeats), -1 where absent."""
    found = np.asarray(pd.Index(unique).get_indexer(pairs), dtype=np.intp)
    return np.where(pairs == NO_PAIR, -1, found)


def keepers(pairs: Codes, *order: npt.NDArray[Any]) -> Mask:
    """One row per pair: the first when the rows are sorted by `order` (ascending, the first
    array deciding first). Rows without a pair are all kept. Only rows of repeated pairs are
    sorted: duplicates are rare."""
    keep = np.ones(len(pairs), dtype=bool)
    repeated = np.asarray(pd.Series(pairs).duplicated(keep=False), dtype=bool)
    rows = np.flatnonzero(repeated & (pairs != NO_PAIR))
    if len(rows):
        ranks = pd.DataFrame(
            {"pair": pairs[rows], **{f"by{n}": o[rows] for n, o in enumerate(order)}}
        )
        ranked = ranks.sort_values(list(ranks.columns))
        first = ~np.asarray(ranked["pair"].duplicated(), dtype=bool)
        keep[rows[ranked.index.to_numpy()]] = first
    return keep
