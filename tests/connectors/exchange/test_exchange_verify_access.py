"""'Save verifies' and per-trainer permission checks, against the EWS emulator."""

from __future__ import annotations

import time

import pytest

from connectors.exchange import connect
from tests.connectors.exchange.conftest import MASTER, TRAINER_PW, service


def test_verify_service_signs_in_with_the_master_account(connector):
    result = connector.verify_service()
    assert result.ok, result
    assert MASTER in result.message
    assert result.server_version == "15.2.0.0"


def test_wrong_password_is_reported_as_such_within_seconds(world, monkeypatch):
    monkeypatch.setenv("TS_TEST_MASTER_SECRET", "not-the-password")
    conn = connect(service(world))
    started = time.monotonic()
    result = conn.verify_service()
    elapsed = time.monotonic() - started
    assert elapsed < 5
    assert not result.ok
    assert result.error == "AuthenticationFailed"
    assert MASTER in result.message and "credentials" in result.message
    assert "not-the-password" not in f"{result.message} {result.hint}"
    assert "env:TS_TEST_MASTER_SECRET" in result.hint  # names the reference, never the value


def test_unreachable_host_gets_its_own_message(world):
    conn = connect(service(world, endpoint="http://127.0.0.1:9/EWS/Exchange.asmx"))
    started = time.monotonic()
    result = conn.verify_service()
    assert time.monotonic() - started < 5
    assert not result.ok
    assert result.error == "ServiceUnreachable"
    assert "Cannot connect to http://127.0.0.1:9/EWS/Exchange.asmx" in result.message


def test_wrong_endpoint_path_is_not_taken_for_ews(world):
    conn = connect(service(world, endpoint=f"{world.base_url}/owa/"))
    result = conn.verify_service()
    assert not result.ok
    assert result.error == "EndpointNotFound"
    assert "HTTP 404" in result.message
    assert "/EWS/Exchange.asmx" in result.hint


def test_editor_delegate_may_sync_both_ways(connector):
    result = connector.check_access("editor@contoso.test", "both")
    assert result.ok, result.problems
    assert set(result.rights) == {"read", "create", "modify", "delete"}


def test_reviewer_is_enough_for_in_but_not_for_out(connector):
    assert connector.check_access("reviewer@contoso.test", "in").ok
    result = connector.check_access("reviewer@contoso.test", "out")
    assert not result.ok
    (problem,) = result.problems
    assert problem.code == "insufficient_rights"
    assert "create" in problem.message and "delete" in problem.message
    assert (
        f"Grant {MASTER} Editor on the Calendar of reviewer@contoso.test through Outlook > File > "
        "Account Settings > Delegate Access" in problem.message
    )


def test_mailbox_without_any_grant_is_told_what_to_grant(connector):
    result = connector.check_access("nogrant@contoso.test", "in")
    assert not result.ok
    (problem,) = result.problems
    assert "Reviewer on the Calendar of nogrant@contoso.test" in problem.message
    assert "Delegate Access" in problem.message


def test_domain_mismatch_names_both_domains(connector, world):
    result = connector.check_access("someone@fabrikam.test", "in")
    assert not result.ok
    (problem,) = result.problems
    assert problem.code == "domain_mismatch"
    assert "fabrikam.test" in problem.message and "contoso.test" in problem.message
    assert world.control.counters()["total"] == 0  # decided without asking Exchange


def test_unknown_mailbox_is_reported_and_does_not_stop_the_others(connector):
    results = [
        connector.check_access(mailbox, "both")
        for mailbox in ("ghost@contoso.test", "editor@contoso.test")
    ]
    assert [r.ok for r in results] == [False, True]
    (problem,) = results[0].problems
    assert problem.code == "mailbox_not_found"
    assert "ghost@contoso.test does not exist" in problem.message


def test_impersonation_needs_the_application_impersonation_right(world, make_connector):
    conn = make_connector(access_type="impersonation")
    result = conn.check_access("editor@contoso.test", "both")
    assert not result.ok
    (problem,) = result.problems
    assert "ApplicationImpersonation" in problem.message
    assert "New-ManagementRoleAssignment" in problem.message

    world.control.grant(owner="editor@contoso.test", grantee=MASTER, kind="impersonation")
    assert conn.check_access("editor@contoso.test", "both").ok


@pytest.mark.parametrize("direction", ["sideways", ""])
def test_invalid_direction_is_a_per_trainer_problem(connector, direction):
    result = connector.check_access("editor@contoso.test", direction)
    assert not result.ok
    assert result.problems[0].code == "invalid_direction"


def test_a_trainer_password_is_not_the_master_account(world, monkeypatch):
    monkeypatch.setenv("TS_TEST_MASTER_SECRET", TRAINER_PW)
    result = connect(service(world)).verify_service()
    assert result.error == "AuthenticationFailed"
