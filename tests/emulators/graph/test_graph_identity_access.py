"""Tokens from the identity platform and who may open which mailbox."""

from __future__ import annotations

import base64
import json

import pytest

from emulators.graph import NotLoopbackError, run_graph_emulator
from tests.emulators.graph.conftest import (
    APP,
    NOMAILBOX,
    OTHER,
    OUTSIDE,
    TENANT,
    TRAINER,
    app_session,
    event,
    http,
    msal_app,
    user_session,
)

WINDOW = {"startDateTime": "2026-12-01T00:00:00Z", "endDateTime": "2026-12-02T00:00:00Z"}


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_msal_gets_a_token_with_roles_and_reuses_it_until_expiry(world):
    app = msal_app(world)
    first = app.acquire_token_for_client([f"{world.base_url}/.default"])
    again = app.acquire_token_for_client([f"{world.base_url}/.default"])
    assert again["access_token"] == first["access_token"]
    assert again["token_source"] == "cache"
    claims = _claims(first["access_token"])
    assert claims["tid"] == TENANT and claims["appid"] == APP
    assert "roles" not in claims  # granted by RBAC for Applications: not in the token
    assert world.control.counters()["by_operation"]["token"] == 1
    world.control.add_app(TENANT, "consented", "s", mailboxes=None, roles=["Calendars.Read"])
    consented = msal_app(world, "consented", "s").acquire_token_for_client(
        [f"{world.base_url}/.default"]
    )
    assert _claims(consented["access_token"])["roles"] == ["Calendars.Read"]


def test_wrong_secret_and_unknown_app_are_refused_with_aadsts_codes(world):
    bad = msal_app(world, secret="nope").acquire_token_for_client([f"{world.base_url}/.default"])
    assert bad["error"] == "invalid_client" and "AADSTS7000215" in bad["error_description"]
    unknown = msal_app(world, client_id="ghost").acquire_token_for_client(
        [f"{world.base_url}/.default"]
    )
    assert unknown["error"] == "unauthorized_client"
    assert "AADSTS700016" in unknown["error_description"]


def test_graph_needs_a_valid_unexpired_token(world):
    s = http(world)
    r = s.get(f"{world.url}/users/{TRAINER}/calendar")
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
    world.control.settings(token_lifetime=0)
    expired = app_session(world)
    r = expired.get(f"{world.url}/users/{TRAINER}/calendar")
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    world.control.settings(token_lifetime=3600)


def test_rbac_scope_missing_mailbox_and_unknown_user(world):
    s = app_session(world)
    assert s.get(f"{world.url}/users/{TRAINER}/calendarView", params=WINDOW).status_code == 200
    outside = s.get(f"{world.url}/users/{OUTSIDE}/calendarView", params=WINDOW)
    assert outside.status_code == 403
    assert outside.json()["error"]["code"] == "ErrorAccessDenied"
    nomb = s.get(f"{world.url}/users/{NOMAILBOX}/calendarView", params=WINDOW)
    assert (nomb.status_code, nomb.json()["error"]["code"]) == (404, "MailboxNotEnabledForRESTAPI")
    ghost = s.get(f"{world.url}/users/ghost@contoso.test/calendarView", params=WINDOW)
    assert (ghost.status_code, ghost.json()["error"]["code"]) == (404, "ErrorInvalidUser")


def test_calendars_read_may_read_but_not_write(world):
    world.control.add_app(TENANT, "reader", "s", mailboxes=[TRAINER], roles=["Calendars.Read"])
    s = app_session(world, "reader", "s")
    assert s.get(f"{world.url}/users/{TRAINER}/calendarView", params=WINDOW).status_code == 200
    r = s.post(
        f"{world.url}/users/{TRAINER}/events",
        json=event("x", "2026-12-01T09:00:00", "2026-12-01T10:00:00"),
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "ErrorAccessDenied"
    world.control.add_app(TENANT, "noconsent", "s", mailboxes=None, roles=[])
    none = app_session(world, "noconsent", "s")
    r = none.get(f"{world.url}/users/{TRAINER}/calendarView", params=WINDOW)
    assert r.status_code == 403


def test_entra_consent_and_rbac_grants_add_up(world):
    world.control.add_app(
        TENANT,
        "both",
        "s",
        mailboxes=[TRAINER],
        roles=["Calendars.ReadWrite"],
        entra_roles=["Calendars.Read"],
    )
    s = app_session(world, "both", "s")
    body = event("x", "2026-12-01T09:00:00", "2026-12-01T10:00:00")
    assert s.post(f"{world.url}/users/{TRAINER}/events", json=body).status_code == 201
    # outside the scope, the tenant-wide Entra consent still lets it read, not write
    assert s.get(f"{world.url}/users/{OUTSIDE}/calendarView", params=WINDOW).status_code == 200
    assert s.post(f"{world.url}/users/{OUTSIDE}/events", json=body).status_code == 403


def test_a_user_edits_only_its_own_calendar(world):
    me = user_session(world)
    r = me.post(
        f"{world.url}/me/events", json=event("mine", "2026-12-01T09:00:00", "2026-12-01T10:00:00")
    )
    assert r.status_code == 201
    assert world.control.items(TRAINER)[0]["subject"] == "mine"
    assert me.get(f"{world.url}/users/{OTHER}/calendarView", params=WINDOW).status_code == 403


def test_refuses_non_loopback_addresses():
    with pytest.raises(NotLoopbackError), run_graph_emulator(host="10.1.2.3"):
        pass


def test_state_file_keeps_users_apps_and_events(tmp_path):
    state = tmp_path / "graph.json"
    with run_graph_emulator(state_file=state) as g:
        g.control.add_account(TRAINER, "pw")
        g.control.add_app(TENANT, APP, "s", mailboxes=[TRAINER])
        s = app_session(g, APP, "s")
        s.post(
            f"{g.url}/users/{TRAINER}/events",
            json=event("kept", "2026-12-01T09:00:00", "2026-12-01T10:00:00"),
        )
    with run_graph_emulator(state_file=state) as g:
        assert [i["subject"] for i in g.control.items(TRAINER)] == ["kept"]
        assert app_session(g, APP, "s").get(f"{g.url}/users/{TRAINER}/calendar").status_code == 200


def test_runs_in_its_own_process():
    with run_graph_emulator(subprocess=True) as g:
        g.control.add_account(TRAINER, "pw")
        g.control.add_app(TENANT, APP, "s", mailboxes=[TRAINER])
        assert app_session(g, APP, "s").get(f"{g.url}/users/{TRAINER}/calendar").status_code == 200
