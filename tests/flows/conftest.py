"""End-to-end fixtures: a migrated store, the EWS emulator, and one Prefect harness.

Everything runs for real: the flows call the platform store (SQLite here; PostgreSQL in the
storage tests) and talk to the emulator through exchangelib over HTTP. Trainers act "in
Outlook" through EWS with their own credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exchangelib import DELEGATE, Account, Build, Configuration, Credentials, FailFast, Version
from exchangelib import CalendarItem as OutlookItem

from connectors.platform import configuration, db
from connectors.platform.configuration import ServiceSpec
from connectors.platform.models import (
    Course,
    EventSession,
    EventTrainer,
    TrainingEvent,
    Venue,
)
from emulators.ews import EwsEmulator, run_ews_emulator
from tasks.runtime import close_connectors

DOMAIN = "acme.test"
MASTER = f"master@{DOMAIN}"
MASTER_PW = "master-pw"
TRAINER_PW = "trainer-pw"


@pytest.fixture(scope="session")
def ews() -> Iterator[EwsEmulator]:
    with run_ews_emulator() as emulator:
        yield emulator


def tomorrow(hour: int, days: int = 1) -> datetime:
    base = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return base + timedelta(days=days, hours=hour)


@dataclass
class World:
    """A provider 'Acme' with its master account, trainers and courses, on a fresh store."""

    url: str
    ews: EwsEmulator
    provider_id: int = 0
    trainers: dict[str, int] = field(default_factory=dict)
    _events: int = 0

    def trainer(
        self, name: str, direction: str, grant: str | None = "Editor", mailbox_domain: str = DOMAIN
    ) -> str:
        email = f"{name}@{DOMAIN}"
        mailbox = f"{name}@{mailbox_domain}"
        self.ews.control.add_account(mailbox, TRAINER_PW)
        if grant:
            self.ews.control.grant(
                owner=mailbox, grantee=MASTER, kind="delegate", calendar_role=grant
            )
        with db.transaction(self.url) as s:
            provider = configuration.get_provider(s, "Acme")
            trainer = configuration.add_trainer(s, provider, name.title(), email)
            if mailbox_domain == DOMAIN:
                configuration.link_trainer(
                    s, configuration.get_service(s, "acme-ews"), trainer, direction
                )
            else:  # a link made before the domain rule existed: the engine must still refuse it
                from connectors.platform.models import TrainerLink

                s.add(
                    TrainerLink(
                        trainer_id=trainer.id,
                        service_id=configuration.get_service(s, "acme-ews").id,
                        direction=direction,
                        calendar_enabled=True,
                        mailbox=mailbox,
                    )
                )
            self.trainers[email] = trainer.id
        return email

    def event(
        self, course: str, starts: list[datetime], trainers: list[str], hours: int = 3
    ) -> list[int]:
        """A scheduled event with sessions; returns the session ids."""
        self._events += 1
        ref = f"EV{self._events}"
        with db.transaction(self.url) as s:
            c = Course(provider_id=self.provider_id, name=course)
            v = Venue(
                provider_id=self.provider_id, name="Leeds Centre", address="1 Park Row, Leeds"
            )
            s.add_all([c, v])
            s.flush()
            ev = TrainingEvent(
                provider_id=self.provider_id,
                ref=ref,
                course_id=c.id,
                venue_id=v.id,
                event_url=f"https://lms.acme.test/events/{ref}",
                delegate_instructions_url=f"https://lms.acme.test/events/{ref}/delegates",
                trainer_instructions_url=f"https://lms.acme.test/events/{ref}/trainers",
            )
            ev.sessions = [EventSession(start=t, end=t + timedelta(hours=hours)) for t in starts]
            ev.assignments = [EventTrainer(trainer_id=self.trainers[e]) for e in trainers]
            s.add(ev)
            s.flush()
            return [x.id for x in ev.sessions]

    def outlook(self, email: str) -> Account:
        """The trainer's own view of their calendar, as Outlook has it."""
        return Account(
            primary_smtp_address=email,
            config=Configuration(
                service_endpoint=self.ews.url,
                credentials=Credentials(email, TRAINER_PW),
                version=Version(build=Build(15, 2, 0, 0)),
                retry_policy=FailFast(),
            ),
            autodiscover=False,
            access_type=DELEGATE,
        )

    def add_appointment(
        self, email: str, subject: str, start: datetime, end: datetime, **fields: Any
    ) -> OutlookItem:
        account = self.outlook(email)
        item = OutlookItem(
            folder=account.calendar,
            subject=subject,
            start=start,
            end=end,
            body="Private details",
            location="Home",
            **fields,
        )
        item.save()
        return item

    def items(self, email: str) -> list[dict[str, Any]]:
        return [i for i in self.ews.control.items(email, include_deleted=False)]

    def requests_by_mailbox(self) -> dict[str, int]:
        return dict(self.ews.control.counters().get("by_mailbox", {}))


@pytest.fixture
def world(
    ews: EwsEmulator, tmp_path, monkeypatch: pytest.MonkeyPatch, prefect_api: None
) -> Iterator[World]:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    db.upgrade(url)
    monkeypatch.setenv("TRAINER_SYNC_DATABASE_URL", url)
    monkeypatch.setenv("ACME_EWS_PASSWORD", MASTER_PW)
    ews.control.reset()
    ews.control.add_account(MASTER, MASTER_PW)
    with db.transaction(url) as s:
        provider = configuration.add_provider(s, "Acme", True)
        configuration.add_service(
            s,
            ServiceSpec(
                "Acme", "acme-ews", ews.url, MASTER, "env:ACME_EWS_PASSWORD", server_version="15.2"
            ),
        )
        provider_id = provider.id
    yield World(url=url, ews=ews, provider_id=provider_id)
    close_connectors()
    db.get_engine(url).dispose()
