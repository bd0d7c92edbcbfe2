"""HTTPS with the emulator's generated CA, and OAuth2 client credentials, through exchangelib."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from exchangelib import (
    DELEGATE,
    IMPERSONATION,
    OAUTH2,
    Account,
    Configuration,
    Identity,
    OAuth2Credentials,
)
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorInvalidExchangeImpersonationHeaderData,
    TransportError,
)
from exchangelib.protocol import BaseProtocol, FailFast
from oauthlib.oauth2.rfc6749.errors import InvalidClientError

from emulators.ews import EwsEmulator, run_ews_emulator

from .conftest import EXCHANGE_2019, TRAINER, account, event

TENANT = "contoso-tenant-id"


@pytest.fixture(scope="module")
def ews() -> Iterator[EwsEmulator]:
    """This module's emulator serves HTTPS."""
    with run_ews_emulator(tls=True) as handle:
        yield handle


def ca_adapter(ca_file: str) -> type[requests.adapters.HTTPAdapter]:
    """An HTTP adapter that verifies servers against one CA bundle (exchangelib's hook)."""

    class CABundleAdapter(requests.adapters.HTTPAdapter):
        def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
            kwargs["verify"] = ca_file
            return super().send(request, **kwargs)

    return CABundleAdapter


@pytest.fixture
def trusted(org: EwsEmulator) -> Iterator[EwsEmulator]:
    """exchangelib trusting the emulator's CA, with certificate verification on."""
    previous = BaseProtocol.HTTP_ADAPTER_CLS
    BaseProtocol.HTTP_ADAPTER_CLS = ca_adapter(org.ca_file)
    yield org
    BaseProtocol.HTTP_ADAPTER_CLS = previous


class TenantOAuth2Credentials(OAuth2Credentials):
    """Client credentials whose token endpoint is configurable (exchangelib builds it from
    login.microsoftonline.com + tenant id by default)."""

    def __init__(self, *args, token_url: str, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._token_url = token_url

    @property
    def token_url(self) -> str:
        return self._token_url


def oauth_account(
    ews: EwsEmulator,
    mailbox: str,
    secret: str = "s3cret",
    access_type: str = IMPERSONATION,
    identity: Identity | None = None,
) -> Account:
    creds = TenantOAuth2Credentials(
        client_id="sync-app",
        client_secret=secret,
        tenant_id=TENANT,
        identity=identity,
        token_url=ews.token_url(TENANT),
    )
    config = Configuration(
        service_endpoint=ews.url,
        credentials=creds,
        auth_type=OAUTH2,
        version=EXCHANGE_2019,
        retry_policy=FailFast(),
    )
    return Account(mailbox, config=config, autodiscover=False, access_type=access_type)


def test_https_with_generated_ca(trusted):
    assert trusted.url.startswith("https://127.0.0.1:")
    acc = account(trusted)
    event(acc, "Over TLS").save()
    assert [i["subject"] for i in trusted.control.items(TRAINER)] == ["Over TLS"]


def test_https_is_refused_without_the_ca(org):
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        account(org).calendar  # noqa: B018


def test_oauth2_client_credentials_for_granted_mailbox_only(trusted):
    trusted.control.add_account("trainer2@contoso.test", "pw2")
    trusted.control.add_app(TENANT, "sync-app", "s3cret", mailboxes=[TRAINER])
    acc = oauth_account(trusted, TRAINER)
    assert acc.calendar.effective_rights.modify is True
    event(acc, "Via app").save()
    assert [i["subject"] for i in trusted.control.items(TRAINER)] == ["Via app"]
    assert set(trusted.control.counters()["by_account"]) == {"app:sync-app"}

    with pytest.raises(ErrorAccessDenied):
        oauth_account(trusted, "trainer2@contoso.test").calendar  # noqa: B018


def test_oauth2_app_token_needs_an_impersonation_header(trusted):
    trusted.control.add_app(TENANT, "sync-app", "s3cret", mailboxes=[TRAINER])
    with pytest.raises(ErrorInvalidExchangeImpersonationHeaderData):
        oauth_account(trusted, TRAINER, access_type=DELEGATE).calendar  # noqa: B018
    granted = Identity(primary_smtp_address=TRAINER)
    acc = oauth_account(trusted, TRAINER, access_type=DELEGATE, identity=granted)
    assert acc.calendar.name == "Calendar"


def test_oauth2_wrong_secret_gets_no_token(trusted):
    trusted.control.add_app(TENANT, "sync-app", "s3cret", mailboxes=[TRAINER])
    with pytest.raises(InvalidClientError):
        oauth_account(trusted, TRAINER, secret="wrong").calendar  # noqa: B018
