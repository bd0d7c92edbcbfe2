"""The history keeps who saved an edited item and what the edit changed, on SQLite and
PostgreSQL, and the tamper report reads it back from there."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from connectors.platform import configuration, db
from connectors.platform.models import SyncChange
from connectors.platform.state import change_history, overrides_since, record_changes, start_run
from trainer_sync.cli import app

NOW = datetime.now(UTC).replace(microsecond=0)


def _plan_rows(trainer_id: int) -> list[dict[str, object]]:
    """Rows as a run hands them over from its plan frame: NaN, NaT and Timestamps included."""
    base = {"trainer_id": trainer_id, "side": "exchange", "held": False, "outcome": "applied"}
    return [
        {**base, "action": "update", "reason": "tampered_in_exchange", "entry_key": "session:1",
         "item_id": "I1", "summary": "update 'First Aid'", "changed_fields": "start;end",
         "modified_by": "[bold]Ann[/bold] Smith", "modified_at": pd.Timestamp(NOW)},
        {**base, "action": "create", "reason": "deleted_in_exchange", "entry_key": "session:2",
         "item_id": np.nan, "summary": "create 'First Aid'", "changed_fields": np.nan,
         "modified_by": np.nan, "modified_at": pd.NaT},
        {**base, "action": "create", "reason": "new_in_platform", "entry_key": "session:3",
         "item_id": np.nan, "summary": "create 'First Aid'", "changed_fields": None,
         "modified_by": None, "modified_at": None},
    ]  # fmt: skip


def _store(url: str) -> int:
    with db.transaction(url) as s:
        acme = configuration.add_provider(s, "Acme", True)
        configuration.add_provider(s, "Globex", True)
        ann = configuration.add_trainer(s, acme, "Ann", "ann@acme.test")
        run = start_run(s, acme.id, ann.id, "run-1", NOW)
        record_changes(s, run.id, _plan_rows(ann.id))
        return ann.id


def test_the_modifier_and_changed_fields_are_kept_and_read_back(db_url: str) -> None:
    _store(db_url)
    with db.transaction(db_url) as s:
        rows = overrides_since(s, NOW - timedelta(days=30))
        edit, deletion = rows
        assert (edit["reason"], edit["changed_fields"]) == ("tampered_in_exchange", "start;end")
        assert edit["modified_by"] == "[bold]Ann[/bold] Smith"
        assert edit["modified_at"] == NOW and edit["modified_at"].tzinfo is not None
        assert (deletion["reason"], deletion["modified_by"], deletion["modified_at"]) == (
            "deleted_in_exchange",
            None,
            None,
        )
        assert {r["provider"] for r in rows} == {"Acme"}
        assert (
            overrides_since(s, NOW - timedelta(days=30), configuration.get_provider(s, "Globex"))
            == []
        )
        assert overrides_since(s, datetime.now(UTC) + timedelta(minutes=1)) == []
        history = change_history(s)
        assert {h["reason"]: h["modified_by"] for h in history}["tampered_in_exchange"] == (
            "[bold]Ann[/bold] Smith"
        )
        assert s.query(SyncChange).count() == 3


def test_report_tamper_reads_the_store(db_url: str) -> None:
    _store(db_url)
    runner = CliRunner()
    shown = runner.invoke(app, ["--database-url", db_url, "report", "tamper", "--json"])
    assert shown.exit_code == 0, shown.output
    (row,) = json.loads(shown.stdout)
    assert (row["trainer"], row["edits_7d"], row["moves_7d"], row["deletions_7d"]) == (
        "ann@acme.test",
        1,
        1,
        1,
    )
    assert row["modified_by"] == "[bold]Ann[/bold] Smith ×1, unknown ×1"

    table = runner.invoke(app, ["--database-url", db_url, "report", "tamper", "--days", "30"])
    assert table.exit_code == 0, table.output
    assert "[bold]Ann[/bold] Smith" in table.stdout  # a name is data, never markup
    assert "edits_30d" in table.stdout and "edits_7d" not in table.stdout

    other = runner.invoke(
        app, ["--database-url", db_url, "report", "tamper", "--provider", "Globex"]
    )
    assert other.exit_code == 0 and "No trainer edited or deleted" in other.stdout
