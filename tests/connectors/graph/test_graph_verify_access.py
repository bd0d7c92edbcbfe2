"""Verification and permission outcomes through Graph, with Graph-specific advice."""

from __future__ import annotations

import pytest

from connectors.exchange import ServiceConfig, connect
from connectors.exchange.graph import GraphConnector
from sync_rules.errors import ConfigurationError
from tests.connectors.graph.conftest import (
    MASTER,
    NOMAILBOX,
    OUTSIDE,
    TENANT,
    TRAINER,
    graph_requests,
    service,
)


def test_connect_picks_the_graph_backend_and_verifies_with_one_request(world, connector):
    assert isinstance(connector, GraphConnector)
    result = connector.verify_service()
    assert result.ok, result.message
    assert "trainer-sync-app" in result.message and MASTER in result.message
    assert graph_requests(world) == {"calendar.get": 1}
    assert world.control.counters()["by_operation"]["token"] == 1
    connector.verify_service()
    assert world.control.counters()["by_operation"]["token"] == 1  # msal's cache


def test_wrong_secret_fails_verification_naming_the_secret(world, make_connector, monkeypatch):
    monkeypatch.setenv("TS_TEST_GRAPH_SECRET", "stale-secret")
    result = make_connector().verify_service()
    assert (result.ok, result.error) == (False, "AuthenticationFailed")
    assert "client secret" in result.message and "env:TS_TEST_GRAPH_SECRET" in result.hint


def test_unknown_app_or_tenant_fails_verification(world, make_connector):
    result = make_connector(client_id="ghost-app").verify_service()
    assert (result.ok, result.error) == (False, "AuthenticationFailed")
    assert "does not know app ghost-app" in result.message
    result = make_connector(tenant_id="no-such-tenant").verify_service()
    assert (result.ok, result.error) == (False, "AuthenticationFailed")
    assert "no tenant no-such-tenant" in result.message and "tenant_id" in result.hint


def test_missing_admin_consent_is_reported_for_every_mailbox(world, make_connector, monkeypatch):
    world.control.add_app(TENANT, "unconsented", "s2", mailboxes=None, roles=[])
    monkeypatch.setenv("TS_TEST_GRAPH_SECRET", "s2")
    conn = make_connector(client_id="unconsented")
    result = conn.verify_service()
    assert (result.ok, result.error) == (False, "AccessDenied")
    assert "no calendar permission" in result.message
    assert "Application Calendars.ReadWrite" in result.hint and "admin consent" in result.hint
    access = conn.check_access(TRAINER, "both")
    assert not access.ok and access.problems[0].code == "no_access"
    assert "no calendar permission" in access.problems[0].message


def test_mailbox_outside_the_rbac_scope_missing_mailbox_and_unknown_user(world, connector):
    assert connector.check_access(TRAINER, "both").ok
    outside = connector.check_access(OUTSIDE, "in")
    assert outside.problems[0].code == "no_access"
    assert "outside the management scope" in outside.problems[0].message
    assert "Test-ServicePrincipalAuthorization" in outside.problems[0].message
    onprem = connector.check_access(NOMAILBOX, "in")
    assert onprem.problems[0].code == "mailbox_not_found"
    assert "no Exchange Online mailbox" in onprem.problems[0].message
    ghost = connector.check_access("ghost@contoso.test", "in")
    assert ghost.problems[0].code == "mailbox_not_found"
    assert "No user ghost@contoso.test" in ghost.problems[0].message
    other = connector.check_access("x@fabrikam.test", "in")
    assert other.problems[0].code == "domain_mismatch"


def test_read_only_permission_allows_in_but_not_out(world, make_connector, monkeypatch):
    world.control.add_app(
        TENANT, "reader", "s3", mailboxes=[MASTER, TRAINER], roles=["Calendars.Read"]
    )
    monkeypatch.setenv("TS_TEST_GRAPH_SECRET", "s3")
    conn = make_connector(client_id="reader")
    assert conn.verify_service().ok
    assert conn.check_access(TRAINER, "in").ok
    out = conn.check_access(TRAINER, "out")
    assert out.problems[0].code == "insufficient_rights" and out.rights == ("read",)
    assert "Calendars.ReadWrite" in out.problems[0].message


def test_write_rights_from_a_tenant_wide_grant_or_a_probe(world, make_connector, monkeypatch):
    rbac = make_connector()
    world.control.reset_counters()
    assert rbac.check_access(TRAINER, "both").ok  # RBAC grant: not in the token, probed
    assert graph_requests(world) == {"calendar.get": 1, "events.delete": 1}
    assert world.control.items(TRAINER) == []
    world.control.add_app(TENANT, "tenant-wide", "s4", mailboxes=None)
    monkeypatch.setenv("TS_TEST_GRAPH_SECRET", "s4")
    wide = make_connector(client_id="tenant-wide")
    verified = wide.verify_service()
    assert verified.ok and "every mailbox" in verified.message
    world.control.reset_counters()
    assert wide.check_access(OUTSIDE, "both").ok
    assert graph_requests(world) == {"calendar.get": 1}


def test_graph_service_configuration_is_validated(world):
    with pytest.raises(ConfigurationError, match="oauth2"):
        service(world, auth_type="basic")
    with pytest.raises(ConfigurationError, match="/v1.0"):
        service(world, endpoint=world.base_url + "/beta")
    with pytest.raises(ConfigurationError, match="HTTPS"):
        ServiceConfig(
            name="x",
            backend="graph",
            endpoint="http://graph.example/v1.0",
            username=MASTER,
            secret_ref="env:X",
            auth_type="oauth2",
            access_type="impersonation",
            tenant_id="t",
            client_id="c",
        )


def test_connect_resolves_the_secret_reference(world, monkeypatch):
    monkeypatch.delenv("TS_TEST_GRAPH_SECRET")
    with pytest.raises(ConfigurationError):
        connect(service(world))


def test_a_revoked_token_is_replaced_once(world, connector):
    assert connector.verify_service().ok
    world.control.revoke_tokens()
    assert connector.check_access(TRAINER, "in").ok
    counters = world.control.counters()
    assert counters["by_operation"]["token"] == 2
    assert counters["by_status"]["401"] == 1
