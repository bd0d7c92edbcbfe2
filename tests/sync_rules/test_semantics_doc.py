"""docs/sync-semantics.md explains every plan reason."""

from __future__ import annotations

import re
from pathlib import Path

from sync_rules import reasons as R

DOC = Path(__file__).resolve().parents[2] / "docs" / "sync-semantics.md"


def test_every_reason_is_in_the_vocabulary_and_in_the_reasons_table():
    constants = {
        value for name, value in vars(R).items() if name.isupper() and isinstance(value, str)
    }
    assert constants - {R.MASS_DELETE_GUARD} == set(R.ALL_REASONS)
    table = DOC.read_text(encoding="utf-8").split("\n## Reasons\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.M))
    assert documented == set(R.ALL_REASONS)
