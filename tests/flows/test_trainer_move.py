"""A trainer moved to another mailbox keeps its entries: they follow it, found by their tag."""

from __future__ import annotations

import json

from typer.testing import CliRunner, Result

from tests.flows.conftest import World, tomorrow
from trainer_sync.cli import app


def run(world: World, *args: str) -> Result:
    result = CliRunner().invoke(app, ["--database-url", world.url, *args])
    assert result.exit_code == 0, result.output
    return result


def _sync(world: World) -> dict[str, int]:
    (record,) = json.loads(run(world, "sync", "--provider", "Acme", "--json").stdout)
    return record


def test_a_moved_mailbox_gets_the_entries_and_a_move_back_adopts_them(ews_world: World) -> None:
    world = ews_world
    ann = world.trainer("ann", "out")
    world.event("First Aid", [tomorrow(9), tomorrow(9, days=2)], [ann])
    assert _sync(world)["exchange_created"] == 2

    new_box = "ann.smith@acme.test"
    world.side.add_mailbox(new_box, "Editor")
    run(world, "trainer", "set", ann, "--mailbox", new_box)
    assert _sync(world)["exchange_created"] == 2
    assert len(world.items(new_box)) == 2
    again = _sync(world)
    assert (again["exchange_created"], again["exchange_deleted"]) == (0, 0)

    # The old mailbox still holds the tagged items: moving back adopts them, writing nothing.
    run(world, "trainer", "set", ann, "--mailbox", ann)
    back = _sync(world)
    assert (back["exchange_created"], back["exchange_updated"]) == (0, 0)
    assert len(world.items(ann)) == 2
