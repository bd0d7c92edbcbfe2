"""Fixtures for Exchange connector tests: one EWS emulator per module, reset between tests.

The connector is always driven over HTTP against the emulator; trainers' own edits are made
with exchangelib signed in as the trainer, as Outlook would.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from exchangelib import BASIC, UTC, Account, Build, Configuration, Credentials, FailFast, Version

from connectors.exchange import ServiceConfig
from emulators.ews import EwsEmulator, run_ews_emulator
from tests.connectors.conftest import ServiceOf

MASTER = "master@contoso.test"
MASTER_PW = "master-secret-pw"
TRAINERS = {
    "editor@contoso.test": "Editor",
    "reviewer@contoso.test": "Reviewer",
    "nogrant@contoso.test": None,
}
TRAINER_PW = "trainer-pw"


@pytest.fixture(scope="module")
def ews() -> Iterator[EwsEmulator]:
    """One plain-HTTP emulator for the test module."""
    with run_ews_emulator() as emulator:
        yield emulator


def populate(emulator: EwsEmulator) -> None:
    """Master account plus trainers with Editor, Reviewer and no delegate grant."""
    control = emulator.control
    control.reset()
    control.add_account(MASTER, MASTER_PW)
    for mailbox, role in TRAINERS.items():
        control.add_account(mailbox, TRAINER_PW)
        if role:
            control.grant(owner=mailbox, grantee=MASTER, kind="delegate", calendar_role=role)
    control.reset_counters()


@pytest.fixture
def world(ews: EwsEmulator, monkeypatch: pytest.MonkeyPatch) -> EwsEmulator:
    """A freshly reset emulator with the standard accounts; the master secret in the env."""
    populate(ews)
    monkeypatch.setenv("TS_TEST_MASTER_SECRET", MASTER_PW)
    return ews


def service(emulator: EwsEmulator, **overrides: Any) -> ServiceConfig:
    """The master account's service pointing at the emulator (version pinned: no probe)."""
    fields: dict[str, Any] = {
        "name": "contoso",
        "endpoint": emulator.url,
        "username": MASTER,
        "secret_ref": "env:TS_TEST_MASTER_SECRET",
        "server_version": "15.2",
        "connect_timeout": 3.0,
        "read_timeout": 15.0,
    }
    fields.update(overrides)
    return ServiceConfig(**fields)


@pytest.fixture
def service_of(world: EwsEmulator) -> ServiceOf:
    """What the shared `make_connector` builds connectors from."""
    return partial(service, world)


def as_trainer(emulator: EwsEmulator, mailbox: str, password: str = TRAINER_PW) -> Account:
    """exchangelib signed in as the trainer: what Outlook does on the trainer's behalf."""
    config = Configuration(
        service_endpoint=emulator.url,
        credentials=Credentials(mailbox, password),
        auth_type=BASIC,
        version=Version(build=Build(15, 2)),
        retry_policy=FailFast(),
    )
    return Account(mailbox, config=config, autodiscover=False, default_timezone=UTC)


def master_requests(emulator: EwsEmulator) -> int:
    """Requests the emulator received from the master account since the last counter reset."""
    return emulator.control.counters()["by_account"].get(MASTER, 0)
