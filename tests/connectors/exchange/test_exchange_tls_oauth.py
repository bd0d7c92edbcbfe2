"""HTTPS with a private CA, and OAuth2 client credentials, against the EWS emulator over TLS."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from connectors.exchange import ExchangeAction, connect
from emulators.ews import EwsEmulator, run_ews_emulator
from tests.connectors.conftest import utc
from tests.connectors.exchange.conftest import MASTER, populate, service

TENANT = "contoso-tenant"
CLIENT_ID = "1f0c4b1e-trainer-sync"
CLIENT_SECRET = "app-secret-value"
EDITOR = "editor@contoso.test"


@pytest.fixture(scope="module")
def ews() -> Iterator[EwsEmulator]:
    """One HTTPS emulator (certificate from its own CA) for this module."""
    with run_ews_emulator(tls=True) as emulator:
        yield emulator


@pytest.fixture
def tls_world(ews: EwsEmulator, monkeypatch: pytest.MonkeyPatch) -> EwsEmulator:
    populate(ews)
    ews.control.add_app(TENANT, CLIENT_ID, CLIENT_SECRET, mailboxes=[MASTER, EDITOR])
    monkeypatch.setenv("TS_TEST_MASTER_SECRET", "master-secret-pw")
    monkeypatch.setenv("TS_TEST_CLIENT_SECRET", CLIENT_SECRET)
    return ews


def oauth_service(emulator: EwsEmulator, **overrides):
    fields = {
        "auth_type": "oauth2",
        "access_type": "impersonation",
        "tenant_id": TENANT,
        "client_id": CLIENT_ID,
        "secret_ref": "env:TS_TEST_CLIENT_SECRET",
        "authority_host": emulator.base_url,
        "ca_bundle": emulator.ca_file,
    }
    fields.update(overrides)
    return service(emulator, **fields)


def test_https_verifies_with_the_service_ca_bundle(tls_world):
    assert tls_world.url.startswith("https://")
    result = connect(service(tls_world, ca_bundle=tls_world.ca_file)).verify_service()
    assert result.ok, result


def test_https_without_the_ca_bundle_fails_with_a_tls_message(tls_world):
    started = time.monotonic()
    result = connect(service(tls_world)).verify_service()
    assert time.monotonic() - started < 5
    assert not result.ok
    assert result.error == "TlsError"
    assert "TLS certificate" in result.message and tls_world.url in result.message
    assert "CA bundle" in result.hint


def test_ca_bundles_are_per_service(tls_world):
    trusted = connect(service(tls_world, ca_bundle=tls_world.ca_file))
    untrusted = connect(service(tls_world, name="other"))
    assert not untrusted.verify_service().ok
    assert trusted.verify_service().ok
    assert not untrusted.verify_service().ok


def test_oauth2_client_credentials_end_to_end(tls_world):
    conn = connect(oauth_service(tls_world))
    assert conn.verify_service().ok
    assert conn.check_access(EDITOR, "both").ok
    cursor = conn.changed_since(EDITOR, None).cursor
    (created,) = conn.apply(
        EDITOR,
        [
            ExchangeAction(
                "create",
                "s-1",
                subject="Course",
                start=utc(2026, 12, 2, 9),
                end=utc(2026, 12, 2, 17),
                content_hash="h",
            )
        ],
    )
    assert created.ok
    (row,) = conn.read_window(EDITOR, utc(2026, 12, 1), utc(2026, 12, 31))
    assert (row.item_id, row.tag_key) == (created.item_id, "s-1")
    assert conn.changed_since(EDITOR, cursor).changed


def test_oauth2_app_without_access_to_a_mailbox_is_told_what_to_grant(tls_world):
    result = connect(oauth_service(tls_world)).check_access("reviewer@contoso.test", "in")
    assert not result.ok
    assert CLIENT_ID in result.problems[0].message
    assert "full_access_as_app" in result.problems[0].message


def test_oauth2_wrong_client_secret_is_an_authentication_failure(tls_world, monkeypatch):
    monkeypatch.setenv("TS_TEST_CLIENT_SECRET", "wrong-secret")
    started = time.monotonic()
    result = connect(oauth_service(tls_world)).verify_service()
    assert time.monotonic() - started < 5
    assert result.error == "AuthenticationFailed"
    assert "wrong-secret" not in f"{result.message} {result.hint}"
