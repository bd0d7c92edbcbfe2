"""Fixtures for the Graph backend's tests: one Graph stand-in per module, reset between tests.

The connector is driven over HTTPS against the stand-in exactly as against Exchange Online
(msal client credentials, the stand-in as authority host, its CA as the service's ca_bundle).
Trainers edit their own calendars through Graph, signed in as themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import requests

from connectors.exchange import ServiceConfig
from emulators.graph import GraphEmulator, run_graph_emulator
from tests.connectors.conftest import ServiceOf

TENANT = "contoso-tenant"
APP, APP_SECRET = "trainer-sync-app", "graph-app-secret"
MASTER = "sync-admin@contoso.test"
TRAINER = "trainer1@contoso.test"
TRAINER2 = "trainer2@contoso.test"
OUTSIDE = "outside@contoso.test"
NOMAILBOX = "onprem@contoso.test"
PW = "trainer-pw"
SECRET_ENV = "TS_TEST_GRAPH_SECRET"


@pytest.fixture(scope="module")
def graph() -> Iterator[GraphEmulator]:
    """One Graph stand-in for the test module."""
    with run_graph_emulator() as emulator:
        yield emulator


def populate(emulator: GraphEmulator) -> None:
    """Users, and the app scoped (RBAC for Applications) to the master and two trainers."""
    c = emulator.control
    c.reset()
    for email in (MASTER, TRAINER, TRAINER2, OUTSIDE):
        c.add_account(email, PW)
    c.add_account(NOMAILBOX, PW, mailbox=False)
    c.add_app(TENANT, APP, APP_SECRET, mailboxes=[MASTER, TRAINER, TRAINER2, NOMAILBOX])
    c.reset_counters()


@pytest.fixture
def world(graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch) -> GraphEmulator:
    """A freshly reset stand-in with the standard users and app; the secret in the env."""
    populate(graph)
    monkeypatch.setenv(SECRET_ENV, APP_SECRET)
    return graph


def service(emulator: GraphEmulator, **overrides: Any) -> ServiceConfig:
    """The Graph service of the provider, pointing at the stand-in."""
    fields: dict[str, Any] = {
        "name": "contoso-online",
        "backend": "graph",
        "endpoint": emulator.url,
        "username": MASTER,
        "secret_ref": f"env:{SECRET_ENV}",
        "auth_type": "oauth2",
        "access_type": "impersonation",
        "tenant_id": TENANT,
        "client_id": APP,
        "authority_host": emulator.authority,
        "ca_bundle": emulator.ca_file,
        "connect_timeout": 3.0,
        "read_timeout": 15.0,
    }
    fields.update(overrides)
    return ServiceConfig(**fields)


@pytest.fixture
def service_of(world: GraphEmulator) -> ServiceOf:
    """What the shared `make_connector` builds connectors from."""
    return partial(service, world)


def as_trainer(emulator: GraphEmulator, mailbox: str = TRAINER) -> requests.Session:
    """The trainer signed in to Graph as itself (what Outlook does), on its own calendar."""
    s = requests.Session()
    s.trust_env = False
    s.verify = emulator.ca_file
    token = emulator.control.user_token(TENANT, mailbox, PW)
    s.headers.update({"Authorization": f"Bearer {token}", "Prefer": 'outlook.timezone="UTC"'})
    return s


def trainer_event(
    s: requests.Session, emulator: GraphEmulator, subject: str, start: str, end: str, **extra
) -> dict:
    """The trainer creates an appointment in its own calendar."""
    body = {
        "subject": subject,
        "start": {"dateTime": start, "timeZone": "UTC"},
        "end": {"dateTime": end, "timeZone": "UTC"},
        **extra,
    }
    r = s.post(f"{emulator.url}/me/events", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def graph_requests(emulator: GraphEmulator) -> dict[str, int]:
    """Graph requests (by operation) since the last counter reset, identity platform excluded."""
    ops = dict(emulator.control.counters()["by_operation"])
    ops.pop("token", None)
    ops.pop("openid-configuration", None)
    return ops
