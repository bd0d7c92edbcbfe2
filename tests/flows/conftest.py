"""End-to-end fixtures: a migrated store, an Exchange stand-in, and one Prefect harness.

Everything runs for real: the flows call the platform store (SQLite here; PostgreSQL in the
storage tests) and talk to the stand-in over HTTP(S) through the product's connectors. The
`world` fixture runs each test against both backends (EWS and Microsoft Graph); `ews_world`
is for behaviour only EWS has (delegate roles such as Reviewer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.platform import configuration, db
from connectors.platform.models import (
    Course,
    EventSession,
    EventTrainer,
    TrainerLink,
    TrainingEvent,
    Venue,
)
from emulators.ews import run_ews_emulator
from emulators.graph import run_graph_emulator
from tasks.resources import Recorder, Resources, using
from tests.flows.exchange_sides import (
    DOMAIN,
    MASTER_PW,
    SECRET_ENV,
    EwsSide,
    GraphSide,
    Repeat,
)


@pytest.fixture(scope="session")
def ews_side() -> Iterator[EwsSide]:
    with run_ews_emulator() as emulator:
        yield EwsSide(emulator)


@pytest.fixture(scope="session")
def graph_side() -> Iterator[GraphSide]:
    with run_graph_emulator() as emulator:
        yield GraphSide(emulator)


def tomorrow(hour: int, days: int = 1) -> datetime:
    base = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return base + timedelta(days=days, hours=hour)


class Clock:
    """The runs' "now": real time plus however far a test moved it on (the window moves)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, by: timedelta) -> None:
        self.offset += by


@dataclass
class World:
    """Provider 'Acme' with its master account (on one backend), trainers and courses."""

    url: str
    side: Any  # EwsSide | GraphSide
    service: str
    resources: Resources
    recorder: Recorder
    clock: Clock
    provider_id: int = 0
    trainers: dict[str, int] = field(default_factory=dict)
    _events: int = 0

    def trainer(
        self, name: str, direction: str, grant: str | None = "Editor", mailbox_domain: str = DOMAIN
    ) -> str:
        email = f"{name}@{DOMAIN}"
        mailbox = f"{name}@{mailbox_domain}"
        self.side.add_mailbox(mailbox, grant)
        with db.transaction(self.url) as s:
            provider = configuration.get_provider(s, "Acme")
            trainer = configuration.add_trainer(s, provider, name.title(), email)
            service = configuration.get_service(s, self.service)
            if mailbox_domain == DOMAIN:
                configuration.link_trainer(s, service, trainer, direction)
            else:  # a link from before the domain rule: the engine must still refuse it
                s.add(
                    TrainerLink(
                        trainer_id=trainer.id,
                        service_id=service.id,
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

    def records(self, provider: str = "Acme") -> list[dict[str, Any]]:
        """The per-trainer results of the provider's last run in this test."""
        return self.recorder.records[provider]

    def items(self, email: str) -> list[dict[str, Any]]:
        """The trainer's calendar items (deleted ones excluded), oldest start first."""
        return sorted(self.side.items(email), key=lambda i: (i["start"], i["subject"]))

    def add_appointment(
        self,
        email: str,
        subject: str,
        start: datetime,
        end: datetime,
        repeat: Repeat | None = None,
        show_as: str = "Busy",
    ) -> str:
        return self.side.add_appointment(email, subject, start, end, repeat=repeat, show_as=show_as)


def _world(
    side: Any, migrated_store: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    """The flows of the test run on this world's store: its resources are bound explicitly, as
    an in-process caller (the CLI) binds them; nothing is read from TRAINER_SYNC_DATABASE_URL."""
    url = migrated_store("platform.db")
    monkeypatch.delenv("TRAINER_SYNC_DATABASE_URL", raising=False)
    monkeypatch.setenv(SECRET_ENV, MASTER_PW)
    side.reset()
    config = side.service_config()
    with db.transaction(url) as s:
        provider = configuration.add_provider(s, "Acme", True)
        configuration.add_service(s, "Acme", config)
        provider_id = provider.id
    recorder, clock = Recorder(), Clock()
    resources = Resources.from_environment(
        database_url_override=url, observer=recorder, clock=clock
    )
    with resources, using(resources):
        yield World(url, side, config.name, resources, recorder, clock, provider_id=provider_id)
    db.get_engine(url).dispose()


@pytest.fixture(params=["ews", "graph"])
def world(
    request: pytest.FixtureRequest,
    migrated_store: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    prefect_api: None,
) -> Iterator[World]:
    side = request.getfixturevalue(f"{request.param}_side")
    yield from _world(side, migrated_store, monkeypatch)


@pytest.fixture
def ews_world(
    ews_side: EwsSide,
    migrated_store: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    prefect_api: None,
) -> Iterator[World]:
    yield from _world(ews_side, migrated_store, monkeypatch)


@pytest.fixture
def graph_world(
    graph_side: GraphSide,
    migrated_store: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    prefect_api: None,
) -> Iterator[World]:
    yield from _world(graph_side, migrated_store, monkeypatch)
