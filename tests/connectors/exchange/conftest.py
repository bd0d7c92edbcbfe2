"""Fixtures for Exchange connector tests: one EWS emulator per module, reset between tests.

The connector is always driven over HTTP against the emulator; trainers' own edits are made
with exchangelib signed in as the trainer, as Outlook would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from exchangelib import BASIC, Account, Build, Configuration, Credentials, FailFast, Version

from connectors.exchange import ServiceConfig, connect
from connectors.exchange.retry import RetryPolicy
from emulators.ews import EwsEmulator, run_ews_emulator

MASTER = "master@contoso.test"
MASTER_PW = "master-secret-pw"
TRAINERS = {
    "editor@contoso.test": "Editor",
    "reviewer@contoso.test": "Reviewer",
    "nogrant@contoso.test": None,
}
TRAINER_PW = "trainer-pw"
FAST = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2, max_elapsed=20.0)


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
def make_connector(world: EwsEmulator) -> Iterator[Callable[..., Any]]:
    """Build connectors for the emulator (closed after the test)."""
    made = []

    def make(policy: RetryPolicy = FAST, **overrides: Any):
        conn = connect(service(world, **overrides), retry_policy=policy)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()


@pytest.fixture
def connector(make_connector: Callable[..., Any]):
    """The standard connector (delegate access, basic auth)."""
    return make_connector()


def as_trainer(emulator: EwsEmulator, mailbox: str, password: str = TRAINER_PW) -> Account:
    """exchangelib signed in as the trainer: what Outlook does on the trainer's behalf."""
    config = Configuration(
        service_endpoint=emulator.url,
        credentials=Credentials(mailbox, password),
        auth_type=BASIC,
        version=Version(build=Build(15, 2)),
        retry_policy=FailFast(),
    )
    return Account(mailbox, config=config, autodiscover=False, default_timezone=_utc())


def _utc():
    from exchangelib import UTC

    return UTC


def master_requests(emulator: EwsEmulator) -> int:
    """Requests the emulator received from the master account since the last counter reset."""
    return emulator.control.counters()["by_account"].get(MASTER, 0)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)
