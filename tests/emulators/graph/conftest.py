"""Fixtures for the Graph stand-in's tests: one server per module, clients as real ones are.

Apps get tokens with msal (client credentials); trainers sign in with the password grant and
edit their own calendars through Graph, as Outlook would. Sessions ignore REQUESTS_CA_BUNDLE
(`trust_env=False`) so the stand-in's CA is the one used.
"""

from __future__ import annotations

from collections.abc import Iterator

import msal
import pytest
import requests

from emulators.graph import GraphEmulator, run_graph_emulator

TENANT = "contoso"
APP, SECRET = "sync-app", "app-secret"
TRAINER, OTHER, OUTSIDE, NOMAILBOX = (
    "trainer@contoso.test",
    "other@contoso.test",
    "outside@contoso.test",
    "nomailbox@contoso.test",
)
PW = "trainer-pw"
TAG_ID = "String {7d3c8a2e-5b41-4f0e-9a6c-2f1e8b9d4c31} Name TrainerSyncTag"
PREFER = 'outlook.timezone="UTC", IdType="ImmutableId"'


@pytest.fixture(scope="module")
def graph() -> Iterator[GraphEmulator]:
    """One stand-in for the test module."""
    with run_graph_emulator() as emulator:
        yield emulator


@pytest.fixture
def world(graph: GraphEmulator) -> GraphEmulator:
    """Users (one without a mailbox) and an app scoped to trainer and other, not outside."""
    c = graph.control
    c.reset()
    for email in (TRAINER, OTHER, OUTSIDE):
        c.add_account(email, PW)
    c.add_account(NOMAILBOX, PW, mailbox=False)
    c.add_app(TENANT, APP, SECRET, mailboxes=[TRAINER, OTHER, NOMAILBOX])
    c.reset_counters()
    return graph


def http(graph: GraphEmulator) -> requests.Session:
    """A requests session trusting the stand-in's CA."""
    s = requests.Session()
    s.trust_env = False
    s.verify = graph.ca_file
    return s


def msal_app(graph: GraphEmulator, client_id: str = APP, secret: str = SECRET):
    """msal configured as for a national cloud: authority host = the stand-in."""
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=f"{graph.authority}/{TENANT}",
        instance_discovery=False,
        http_client=http(graph),
    )


def app_session(graph: GraphEmulator, client_id: str = APP, secret: str = SECRET):
    """A session carrying an app token (client credentials via msal)."""
    result = msal_app(graph, client_id, secret).acquire_token_for_client(
        [f"{graph.base_url}/.default"]
    )
    s = http(graph)
    s.headers.update({"Authorization": f"Bearer {result['access_token']}", "Prefer": PREFER})
    return s


def user_session(graph: GraphEmulator, email: str = TRAINER) -> requests.Session:
    """The trainer signed in (password grant), acting on its own mailbox."""
    s = http(graph)
    token = graph.control.user_token(TENANT, email, PW)
    s.headers.update({"Authorization": f"Bearer {token}", "Prefer": PREFER})
    return s


def event(subject: str, start: str, end: str, tz: str = "UTC", **extra) -> dict:
    """An event body."""
    return {
        "subject": subject,
        "start": {"dateTime": start, "timeZone": tz},
        "end": {"dateTime": end, "timeZone": tz},
        **extra,
    }


def view(s: requests.Session, graph: GraphEmulator, mailbox: str, start: str, end: str, **params):
    """GET calendarView, following nextLink; returns all values."""
    url = f"{graph.url}/users/{mailbox}/calendarView"
    params = {"startDateTime": start, "endDateTime": end, **params}
    out = []
    while url:
        r = s.get(url, params=params)
        assert r.status_code == 200, r.text
        out += r.json()["value"]
        url, params = r.json().get("@odata.nextLink"), None
    return out
