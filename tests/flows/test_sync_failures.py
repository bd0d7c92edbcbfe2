"""Failures stay with their trainer; guards hold; throttling is survived; dry runs write nothing."""

from __future__ import annotations

import re

from prefect import get_client
from sqlalchemy import delete, func, select

from connectors.platform import db
from connectors.platform.models import EventSession, SyncChange, SyncRun, Unavailability
from flows.sync import sync_all, sync_provider, sync_trainer
from tests.flows.conftest import World, tomorrow


def test_a_trainer_without_rights_fails_alone_and_the_run_ends_failed(world: World) -> None:
    ann = world.trainer("ann", "out")
    ned = world.trainer("ned", "out", grant=None)
    oth = world.trainer("oth", "in", mailbox_domain="elsewhere.test")
    world.event("First Aid", [tomorrow(9)], [ann, ned])
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_failed()
    assert "2 of 3 trainers failed" in state.message
    records = {r["trainer"]: r for r in world.records()}
    assert records[ann]["status"] == "synced" and records[ann]["exchange_created"] == 1
    advice = {"ews": "Delegate Access", "graph": "RBAC for Applications"}[world.side.name]
    assert advice in records[ned]["error"]
    assert "elsewhere.test" in records[oth]["error"] and "acme.test" in records[oth]["error"]
    assert len(world.items(ann)) == 1 and world.items(ned) == []


def test_a_reviewer_may_sync_in_but_not_out(ews_world: World) -> None:
    world = ews_world
    rex = world.trainer("rex", "out", grant="Reviewer")
    rin = world.trainer("rin", "in", grant="Reviewer")
    world.event("First Aid", [tomorrow(9)], [rex])
    world.add_appointment(rin, "Dentist", tomorrow(14), tomorrow(15))
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_failed()
    records = {r["trainer"]: r for r in world.records()}
    assert "Editor" in records[rex]["error"] and "Delegate Access" in records[rex]["error"]
    assert "master@acme.test" in records[rex]["error"]
    assert records[rin]["status"] == "synced" and records[rin]["platform_created"] == 1
    assert world.items(rex) == []


def test_dry_run_writes_nothing_anywhere(world: World) -> None:
    ann = world.trainer("ann", "out")
    ben = world.trainer("ben", "in")
    world.event("First Aid", [tomorrow(9)], [ann])
    world.add_appointment(ben, "Dentist", tomorrow(14), tomorrow(15))
    state = sync_provider(provider="Acme", dry_run=True, return_state=True)
    assert state.is_completed(), state.message
    records = {r["trainer"]: r for r in world.records()}
    assert records[ann]["exchange_created"] == 1 and records[ben]["platform_created"] == 1
    assert world.items(ann) == []
    with db.transaction(world.url) as s:
        assert s.scalar(select(func.count()).select_from(Unavailability)) == 0
        assert s.scalar(select(func.count()).select_from(SyncRun)) == 0
        assert s.scalar(select(func.count()).select_from(SyncChange)) == 0


def test_mass_delete_guard_holds_when_the_platform_is_wiped(world: World) -> None:
    ann = world.trainer("ann", "out")
    world.event("First Aid", [tomorrow(9, days=d) for d in range(1, 13)], [ann])
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    assert len(world.items(ann)) == 12
    with db.transaction(world.url) as s:
        s.execute(delete(EventSession))
    sync_provider(provider="Acme", return_state=True)
    (record,) = world.records()
    assert record["exchange_held"] == 12 and record["exchange_deleted"] == 0
    assert len(world.items(ann)) == 12
    state = sync_provider(provider="Acme", allow_mass_delete=True, return_state=True)
    assert state.is_completed()
    assert world.items(ann) == []


def test_throttling_mid_run_still_completes(world: World) -> None:
    trainers = [world.trainer(name, "out") for name in ("ann", "bob", "cat")]
    world.event("First Aid", [tomorrow(9, days=d) for d in range(1, 4)], trainers)
    with world.side.throttling_storm():
        state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    assert all(len(world.items(t)) == 3 for t in trainers)


def test_sync_trainer_reruns_one_trainer(world: World) -> None:
    ann = world.trainer("ann", "out")
    bob = world.trainer("bob", "out")
    world.event("First Aid", [tomorrow(9)], [ann, bob])
    state = sync_trainer(provider="Acme", trainer=ann, return_state=True)
    assert state.is_completed(), state.message
    assert len(world.items(ann)) == 1 and world.items(bob) == []


def test_sync_all_skips_providers_whose_engine_is_off(world: World) -> None:
    from connectors.platform import configuration

    ann = world.trainer("ann", "out")
    world.event("First Aid", [tomorrow(9)], [ann])
    with db.transaction(world.url) as s:
        configuration.get_provider(s, "Acme").sync_engine_enabled = False
    assert sync_all(return_state=True).is_completed()
    assert world.items(ann) == []
    with db.transaction(world.url) as s:
        configuration.get_provider(s, "Acme").sync_engine_enabled = True
    state = sync_all(return_state=True)
    assert state.is_completed()
    assert len(world.items(ann)) == 1
    # A cycle's run is named by the time it was due: the runs list reads as a timeline.
    with get_client(sync_client=True) as client:
        name = client.read_flow_run(state.state_details.flow_run_id).name
    assert re.fullmatch(r"sync-all \d{4}-\d\d-\d\d \d\d:\d\d UTC", name), name


def test_a_provider_without_linked_trainers_completes_quietly(ews_world: World) -> None:
    world = ews_world
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    assert world.records() == []


def _second_service(world: World, secret_ref: str, **settings: object) -> None:
    """Service acme-spare of the same provider on the same stand-in, last verified just now
    (so the run does not verify it first), with trainer Cat on it."""
    from connectors.exchange.config import ServiceConfig
    from connectors.platform import configuration
    from connectors.platform.models import utcnow

    cat = world.trainer("cat", "out")
    spare = ServiceConfig(**{**world.side.service_config().model_dump(), "name": "acme-spare"})
    with db.transaction(world.url) as s:
        service = configuration.add_service(s, "Acme", spare.with_secret_ref(secret_ref))
        for name, value in settings.items():
            setattr(service, name, value)
        configuration.record_verification(s, service, True, "verified", utcnow())
        trainer = configuration.find_trainer(s, cat)
        configuration.link_trainer(s, service, trainer, "out")


def test_a_service_that_cannot_connect_fails_only_its_trainers(world: World) -> None:
    ann = world.trainer("ann", "out")
    _second_service(world, "env:ACME_SPARE_PW")  # its secret went missing since it was verified
    world.event("First Aid", [tomorrow(9)], [ann, "cat@acme.test"])
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_failed() and "1 of 2 trainers failed (cat@acme.test)" in state.message
    records = {r["trainer"]: r for r in world.records()}
    assert records[ann]["status"] == "synced" and records[ann]["exchange_created"] == 1
    assert "ACME_SPARE_PW is not set" in records["cat@acme.test"]["error"]
    with db.transaction(world.url) as s:  # the run got as far as its history
        assert s.scalar(select(func.count()).select_from(SyncRun)) == 3


def test_a_stored_service_the_connector_refuses_fails_only_its_trainers(world: World) -> None:
    ann = world.trainer("ann", "out")
    _second_service(world, "env:ACME_EXCHANGE_SECRET", max_connections=99)  # out of range
    world.event("First Aid", [tomorrow(9)], [ann, "cat@acme.test"])
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_failed()
    records = {r["trainer"]: r for r in world.records()}
    assert records[ann]["status"] == "synced"
    assert "max_connections must be between 1 and 27" in records["cat@acme.test"]["error"]
    assert world.items("cat@acme.test") == []
