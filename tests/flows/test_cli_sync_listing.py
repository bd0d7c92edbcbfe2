"""`trainer-sync sync` lists each change and says what to run for a held mass deletion."""

from __future__ import annotations

import json

from sqlalchemy import delete
from typer.testing import CliRunner, Result

from connectors.platform import db
from connectors.platform.models import EventSession
from tests.flows.conftest import World, tomorrow
from trainer_sync.cli import app


def run(world: World, *args: str) -> Result:
    return CliRunner().invoke(app, ["--database-url", world.url, *args])


def test_sync_lists_changes_and_a_held_mass_deletion(ews_world: World) -> None:
    world = ews_world
    ann = world.trainer("ann", "out")
    world.event("First Aid", [tomorrow(9, days=d) for d in range(1, 13)], [ann])

    planned = run(world, "sync", "--provider", "Acme", "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert "Planned changes (dry run: nothing written)" in planned.stdout
    assert planned.stdout.count("new_in_platform") == 12
    assert "First Aid" in planned.stdout
    assert world.items(ann) == []

    first = run(world, "sync", "--provider", "Acme")
    assert first.exit_code == 0, first.output
    assert first.stdout.count(ann) >= 13  # 12 changes and its results row
    assert len(world.items(ann)) == 12

    with db.transaction(world.url) as session:
        session.execute(delete(EventSession))
    held = run(world, "sync", "--provider", "Acme")
    assert held.exit_code == 0, held.output
    assert " held " in held.stdout
    assert "Held: 12 change(s) of Acme" in held.stdout
    assert "trainer-sync sync --provider Acme --allow-mass-delete" in held.stdout
    assert len(world.items(ann)) == 12
    (status,) = json.loads(run(world, "status", "--json").stdout)
    assert status["status"] == "held"

    applied = run(world, "sync", "--provider", "Acme", "--allow-mass-delete", "--json")
    assert applied.exit_code == 0, applied.output
    assert world.items(ann) == []


def test_prefect_console_logging_is_off_unless_verbose() -> None:
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    from trainer_sync.cli.runtime import prefect_console

    logger = logging.getLogger("prefect.test-console")
    handler = PrefectConsoleHandler(level=logging.INFO)
    logger.addHandler(handler)
    try:
        with prefect_console(verbose=False):
            assert handler.level > logging.CRITICAL
        assert handler.level == logging.INFO
        with prefect_console(verbose=True):
            assert handler.level == logging.INFO
    finally:
        logger.removeHandler(handler)
