"""Training events after their import: listed, shown with their Outlook state, cancelled and
removed."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from connectors.platform import db
from connectors.platform.models import ItemLink
from tests.cli.conftest import Invoke, as_json
from tests.cli.test_csv_and_calendar import DAY1, DAY2, _calendar, _events_csv


def _imported(cli: Invoke, tmp_path: Path) -> None:
    result = cli("events", "import", str(_events_csv(tmp_path, [DAY1, DAY2])), "--provider", "Acme")
    assert result.exit_code == 0, result.output


def test_events_list_and_show_with_the_outlook_state(
    configured: Invoke, tmp_path: Path, db_url: str
) -> None:
    _imported(configured, tmp_path)
    (event,) = as_json(configured("events", "list", "--json"))
    assert (event["ref"], event["status"], event["sessions"]) == ("E1", "scheduled", 2)
    assert event["trainers"] == "ann@acme.test, bob@acme.test"

    first = _calendar(configured)[0]["entry_key"]
    with db.get_engine(db_url).begin() as connection:
        ann = connection.scalar(text("SELECT id FROM trainers WHERE email = 'ann@acme.test'"))
        connection.execute(
            ItemLink.__table__.insert().values(
                trainer_id=ann, entry_key=first, item_id="AAMk-1", content_hash="h"
            )
        )
    shown = as_json(configured("events", "show", "E1", "--json"))
    assert shown["course"] == "First Aid"
    states = {(s["session"], s["trainer"]): s["outlook"] for s in shown["sessions"]}
    assert states[first, "ann@acme.test"] == "in Outlook"
    assert states[first, "bob@acme.test"] == "not linked"
    assert sorted(set(states.values())) == ["in Outlook", "not linked", "not yet synced"]
    table = configured("events", "show", "E1")
    assert "Sessions in Outlook" in table.stdout and "not yet synced" in table.stdout


def test_cancel_and_remove_take_the_sessions_off_the_calendar(
    configured: Invoke, tmp_path: Path
) -> None:
    _imported(configured, tmp_path)
    result = configured("events", "cancel", "E1")
    assert result.exit_code == 0 and "next sync removes" in result.stdout
    assert _calendar(configured) == []
    assert as_json(configured("events", "list", "--json"))[0]["status"] == "cancelled"
    again = configured("events", "cancel", "E1")
    assert again.exit_code == 2 and "already cancelled" in again.stderr

    assert configured("events", "remove", "E1").exit_code == 0
    assert as_json(configured("events", "list", "--json")) == []
    missing = configured("events", "show", "E1")
    assert missing.exit_code == 2 and "Unknown event 'E1'" in missing.stderr
    assert "events list" in missing.stderr
