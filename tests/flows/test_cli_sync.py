"""The operators' commands on a real run: sync, status, history, validate, service verify."""

from __future__ import annotations

import json

from typer.testing import CliRunner, Result

from tests.flows.conftest import World, tomorrow
from tests.flows.exchange_sides import SECRET_ENV
from trainer_sync.cli import app


def run(world: World, *args: str) -> Result:
    return CliRunner().invoke(app, ["--database-url", world.url, *args])


def test_sync_prints_a_summary_then_status_and_history_explain_it(ews_world: World) -> None:
    world = ews_world
    ann = world.trainer("ann", "out")
    ben = world.trainer("ben", "in")
    world.event("First Aid", [tomorrow(9)], [ann])
    world.add_appointment(ben, "Dentist", tomorrow(14), tomorrow(15))

    result = run(world, "sync", "--provider", "Acme", "--json")
    assert result.exit_code == 0, result.output
    records = {r["trainer"]: r for r in json.loads(result.stdout)}
    assert records[ann]["exchange_created"] == 1
    assert records[ben]["platform_created"] == 1

    table = run(world, "sync", "--provider", "Acme")
    assert table.exit_code == 0 and "Sync results" in table.stdout and "+0 ~0 -0" in table.stdout

    # Status tells the latest run (idle: nothing to do) and when the trainer was last in step.
    status = {r["trainer"]: r for r in json.loads(run(world, "status", "--json").stdout)}
    assert status[ann]["status"] == "idle" and status[ann]["flow_run_id"]
    assert status[ann]["failures_in_a_row"] == 0 and status[ann]["last_success"]
    assert status[ann]["counts"]["exchange_created"] == 1  # its latest run with changes
    history = json.loads(run(world, "history", "--trainer", ben, "--json").stdout)
    assert [(h["side"], h["action"], h["reason"]) for h in history] == [
        ("platform", "create", "new_in_exchange")
    ]
    assert "Dentist" not in json.dumps(history)


def test_sync_of_a_failing_trainer_exits_non_zero_with_its_reason(ews_world: World) -> None:
    world = ews_world
    world.trainer("ann", "out")
    rex = world.trainer("rex", "out", grant="Reviewer")
    result = run(world, "sync", "--provider", "Acme")
    assert result.exit_code == 1
    assert "1 of 2 trainers failed" in result.stdout
    # The reason is an error: it goes to standard error, with what to do, once.
    assert f"1 trainer failed: {rex}" in result.stderr and "Editor" in result.stderr
    assert result.output.count(f"(1 trainer failed: {rex})") == 1


def test_dry_run_and_trainer_selection(ews_world: World) -> None:
    world = ews_world
    ann = world.trainer("ann", "out")
    bob = world.trainer("bob", "out")
    world.event("First Aid", [tomorrow(9)], [ann, bob])
    result = run(world, "sync", "--trainer", ann, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert [r["trainer"] for r in json.loads(result.stdout)] == [ann]
    assert world.items(ann) == []


def test_validate_names_what_to_grant(ews_world: World) -> None:
    world = ews_world
    ann = world.trainer("ann", "both")
    rex = world.trainer("rex", "out", grant="Reviewer")
    rin = world.trainer("rin", "in", grant="Reviewer")
    result = run(world, "validate", "--json")
    assert result.exit_code == 1
    rows = {r["trainer"]: r for r in json.loads(result.stdout)}
    assert rows[ann]["ok"] and rows[rin]["ok"]  # Reviewer is enough to read
    assert not rows[rex]["ok"]
    assert "Editor" in rows[rex]["problem"] and "master@acme.test" in rows[rex]["problem"]


def test_service_verify_records_the_result(ews_world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    world = ews_world
    assert run(world, "service", "verify", "acme-ews").exit_code == 0
    monkeypatch.setenv(SECRET_ENV, "wrong")
    result = run(world, "service", "verify", "acme-ews")
    assert result.exit_code == 1
    assert "password" in result.stderr.lower() or "credentials" in result.stderr.lower()
    (service,) = json.loads(run(world, "service", "list", "--json").stdout)
    assert service["last_verification_ok"] is False
    assert "wrong" not in json.dumps(service)


def test_service_add_verifies_before_saving(ews_world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    world = ews_world
    monkeypatch.setenv("OTHER_PW", "wrong")
    result = run(
        world,
        "service",
        "add",
        "--provider",
        "Acme",
        "--name",
        "bad",
        "--endpoint",
        world.side.emulator.url,
        "--username",
        "master@acme.test",
        "--secret",
        "env:OTHER_PW",
        "--server-version",
        "15.2",
    )
    assert result.exit_code == 2
    assert "failed verification, so it was not saved" in result.stderr
    names = [s["name"] for s in json.loads(run(world, "service", "list", "--json").stdout)]
    assert names == ["acme-ews"]


def test_graph_service_is_added_verified_and_validated(graph_world: World) -> None:
    world = graph_world
    graph = world.side.emulator
    ann = world.trainer("ann", "both")
    world.trainer("out", "out", grant=None)  # outside the app's RBAC scope
    result = run(
        world,
        "service",
        "add",
        "--provider",
        "Acme",
        "--name",
        "acme-online-2",
        "--backend",
        "graph",
        "--auth",
        "oauth2",
        "--access",
        "impersonation",
        "--tenant",
        "acme-tenant",
        "--client-id",
        "trainer-sync-app",
        "--secret",
        f"env:{SECRET_ENV}",
        "--endpoint",
        graph.url,
        "--authority-host",
        graph.authority,
        "--ca-bundle",
        graph.ca_file,
        "--username",
        "master@acme.test",
    )
    assert result.exit_code == 0, result.output
    assert "verified" in result.stdout
    rows = {r["trainer"]: r for r in json.loads(run(world, "validate", "--json").stdout)}
    assert rows[ann]["ok"]
    assert not rows["out@acme.test"]["ok"]
    assert "RBAC for Applications" in rows["out@acme.test"]["problem"]
