"""The platform half of the change gate: a fingerprint of what each trainer's plan depends on.

A trainer whose mailbox reports no change and whose fingerprint equals the stored one needs
no read and no plan. The fingerprint covers the trainer's platform entries in the window,
its link settings and the rules, so changing any of them makes the next cycle look again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from sync_rules.frames import PLATFORM_COLUMNS

_LINK_COLUMNS = ("direction", "calendar_enabled", "mailbox")


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
    rows = platform.loc[:, list(PLATFORM_COLUMNS)].sort_values(["trainer_id", "entry_key"])
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
