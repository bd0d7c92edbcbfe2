"""The tamper report, as an operator meets it: a trainer who moves one pushed session in
Outlook and deletes another shows up in `trainer-sync report tamper` and in the weekly flow's
artifacts with one edit (a move) and one deletion, named as Exchange names who saved it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from typer.testing import CliRunner

from flows.sync import sync_provider
from flows.tamper import tamper_report
from tests.flows.conftest import World, tomorrow
from tests.flows.exchange_sides import TRAINER_PW
from trainer_sync.cli import app


def _report(world: World, *args: str) -> Any:
    result = CliRunner().invoke(
        app, ["--database-url", world.url, "report", "tamper", "--json", *args]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _sync(world: World) -> None:
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message


def _latest_artifact(key: str) -> Any:
    with get_client(sync_client=True) as client:
        (artifact,) = client.read_latest_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    return artifact


def test_a_trainer_who_moves_and_deletes_pushed_sessions_is_reported(world: World) -> None:
    ann = world.trainer("ann", "out")
    bob = world.trainer("bob", "out")
    if world.side.name == "ews":  # Exchange saves the display name of whoever saved the item
        world.side.control.add_account(ann, TRAINER_PW, name="Ann Smith")
    world.event("First Aid", [tomorrow(9), tomorrow(9, days=2)], [ann, bob])
    _sync(world)
    assert _report(world) == []  # pushing is no override

    first, second = world.items(ann)
    world.side.edit(
        ann,
        first["id"],
        subject="Moved to the pub",
        start=first["start"] + timedelta(hours=1),
        end=first["end"] + timedelta(hours=1),
    )
    world.side.delete(ann, second["id"])
    _sync(world)  # the platform wins: both are put back
    _sync(world)  # and an idle run finds nothing more to count
    assert [i["start"] for i in world.items(ann)] == [tomorrow(9), tomorrow(9, days=2)]

    (row,) = _report(world)
    assert (row["provider"], row["trainer"]) == ("Acme", ann)
    assert (row["edits_7d"], row["moves_7d"], row["deletions_7d"]) == (1, 1, 1)
    assert (row["edits_30d"], row["moves_30d"], row["deletions_30d"]) == (1, 1, 1)
    # EWS names who saved the edit; Graph names no modifier, so the organizer stands in.
    modifier = "Ann Smith" if world.side.name == "ews" else "ann"
    assert row["modified_by"] == f"{modifier} ×1, unknown ×1"
    assert "Moved to the pub" not in json.dumps(row)
    assert _report(world, "--provider", "acme", "--days", "7") == [row]

    table = CliRunner().invoke(app, ["--database-url", world.url, "report", "tamper"])
    assert table.exit_code == 0, table.output
    assert ann in table.stdout and modifier in table.stdout and bob not in table.stdout

    state = tamper_report(return_state=True)
    assert state.is_completed(), state.message
    shown = json.loads(_latest_artifact("trainer-sync-acme-tamper").data)
    assert [(r["trainer"], r["edits_7d"], r["deletions_7d"]) for r in shown] == [(ann, 1, 1)]
    summary = _latest_artifact("trainer-sync-acme-tamper-summary").data
    assert "1 edit (1 moved), 1 deletion" in summary and "Moved to the pub" not in summary


def test_the_report_refuses_an_unknown_provider_or_period(ews_world: World) -> None:
    runner = CliRunner()
    for args, named in ((["--provider", "Nowhere"], "Nowhere"), (["--days", "14"], "--days")):
        result = runner.invoke(app, ["--database-url", ews_world.url, "report", "tamper", *args])
        assert result.exit_code == 2, result.output
        assert named in result.output and "Traceback" not in result.output
    state = tamper_report(provider="Nowhere", return_state=True)
    assert state.is_failed() and "Unknown provider 'Nowhere'" in (state.message or "")
