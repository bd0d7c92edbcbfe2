"""Shared fixtures: one EWS emulator per test module, state reset between tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exchangelib import (
    BASIC,
    DELEGATE,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    Version,
)
from exchangelib.protocol import FailFast, Protocol

from emulators.ews import EwsEmulator, run_ews_emulator

MASTER = "master@contoso.test"
MASTER_PW = "master-pw"
TRAINER = "trainer1@contoso.test"
TRAINER_PW = "trainer1-pw"
LONDON = EWSTimeZone("Europe/London")
EXCHANGE_2019 = Version(build=Build(15, 2, 0, 0))


@pytest.fixture(scope="module")
def ews() -> Iterator[EwsEmulator]:
    """A running emulator shared by the tests of one module."""
    with run_ews_emulator() as handle:
        yield handle


@pytest.fixture
def org(ews: EwsEmulator) -> Iterator[EwsEmulator]:
    """A clean organisation: the master account and one trainer who made master an Editor."""
    ews.control.reset()
    ews.control.add_account(MASTER, MASTER_PW)
    ews.control.add_account(TRAINER, TRAINER_PW)
    ews.control.grant(owner=TRAINER, grantee=MASTER, kind="delegate", calendar_role="Editor")
    yield ews
    # exchangelib caches one Protocol (with its retry policy) per endpoint + credentials.
    Protocol.clear_cache()


def account(
    ews: EwsEmulator,
    mailbox: str = TRAINER,
    user: str = MASTER,
    password: str = MASTER_PW,
    access_type: str = DELEGATE,
    version: Version | None = EXCHANGE_2019,
    retry_policy: object | None = None,
    max_connections: int | None = None,
) -> Account:
    """An exchangelib Account on the emulator, as the Exchange connector would build it."""
    config = Configuration(
        service_endpoint=ews.url,
        credentials=Credentials(user, password),
        auth_type=BASIC,
        version=version,
        retry_policy=retry_policy or FailFast(),
        max_connections=max_connections,
    )
    return Account(
        primary_smtp_address=mailbox,
        config=config,
        autodiscover=False,
        access_type=access_type,
        default_timezone=LONDON,
    )


def at(day: int, hour: int, month: int = 5) -> EWSDateTime:
    """A London time in 2026."""
    return EWSDateTime(2026, month, day, hour, tzinfo=LONDON)


def event(acc: Account, subject: str = "Session", day: int = 4, **kw) -> CalendarItem:
    """An unsaved one-hour calendar item (9:00 London, 2026-05-<day>) in acc's calendar."""
    return CalendarItem(
        folder=acc.calendar, subject=subject, start=at(day, 9), end=at(day, 10), **kw
    )
