"""exchangelib plumbing for one service: credentials, TLS, timeouts, connection pool, accounts.

exchangelib keeps TLS adapter and timeout as *class* attributes of its protocol
(`BaseProtocol.HTTP_ADAPTER_CLS`, `BaseProtocol.TIMEOUT`) and caches protocols process-wide by
(endpoint, credentials). Changing those globals would leak one service's CA bundle or timeout
into every other, so each service gets its own protocol instance (`ServiceProtocol`, never put
in exchangelib's cache) whose sessions mount an adapter that always verifies with the service's
own setting, and whose `TIMEOUT` is the instance's (connect, read) pair, which exchangelib
passes on to requests for every EWS call and token request.
"""

from __future__ import annotations

import logging
import threading
from contextlib import suppress
from typing import Any

import requests
from exchangelib import (
    DELEGATE,
    IMPERSONATION,
    UTC,
    Account,
    Build,
    Configuration,
    Credentials,
    FailFast,
    Identity,
    OAuth2Credentials,
    Version,
)
from exchangelib.protocol import CachingProtocol, Protocol
from exchangelib.transport import BASIC, DEFAULT_HEADERS, NTLM, OAUTH2
from requests_oauthlib import OAuth2Session

from connectors.exchange.config import MAX_CONNECTIONS_LIMIT, ServiceConfig
from connectors.exchange.pinned_adapter import PinnedAdapter

_AUTH = {"basic": BASIC, "ntlm": NTLM, "oauth2": OAUTH2}

# exchangelib's DEBUG records of each request include the HTTP headers, i.e. the Basic
# Authorization header or the bearer token. Keep those loggers at INFO unless someone set a
# level on them on purpose, so a DEBUG root logger never writes credentials to a log.
#
# And when a request fails in a way exchangelib does not expect (a URL requests cannot parse),
# it logs an ERROR with the request's headers and its whole SOAP body. The connector reports
# the failure itself; of that record only the first line (the exception) is kept.


class _FirstLineOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        first_line = record.getMessage().split("\n", 1)[0]
        record.msg, record.args = first_line, ()
        return True


for _name in ("exchangelib.util", "exchangelib.util.xml"):
    _logger = logging.getLogger(_name)
    if _logger.level == logging.NOTSET:
        _logger.setLevel(logging.INFO)
    _logger.addFilter(_FirstLineOnly())


# The classes below extend exchangelib's, which carry no type information (hence the ignores).


class _Uncached(CachingProtocol):  # type: ignore[misc]
    """Metaclass that builds a fresh protocol instead of consulting exchangelib's global cache."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return type.__call__(cls, *args, **kwargs)


class ServiceProtocol(Protocol, metaclass=_Uncached):  # type: ignore[misc]
    """exchangelib's Protocol with per-service TLS verification and timeouts."""

    def __init__(
        self, *, config: Configuration, verify: bool | str, timeout: tuple[float, float]
    ) -> None:
        super().__init__(config=config)
        self._verify = verify
        self.TIMEOUT = timeout  # requests accepts (connect, read); exchangelib passes it through

    def _adapter(self) -> PinnedAdapter:
        # No timeout here: exchangelib passes the protocol's TIMEOUT with every request.
        n = self.CONNECTIONS_PER_SESSION
        return PinnedAdapter(
            self._verify, pool_block=True, pool_connections=n, pool_maxsize=n, max_retries=0
        )

    def raw_session(  # exchangelib declares it a classmethod; ours needs the instance
        self,
        prefix: str,
        oauth2_client: Any = None,
        oauth2_session_params: dict[str, Any] | None = None,
        oauth2_token_endpoint: str | None = None,
    ) -> requests.Session:
        session: requests.Session
        if oauth2_client:
            session = OAuth2Session(client=oauth2_client, **(oauth2_session_params or {}))
        else:
            session = requests.Session()
        session.headers.update(DEFAULT_HEADERS)
        session.headers["User-Agent"] = "trainer-sync"
        session.mount(prefix, self._adapter())
        if oauth2_token_endpoint:
            session.mount(oauth2_token_endpoint, self._adapter())
        return session


class _ClientCredentials(OAuth2Credentials):  # type: ignore[misc]
    """OAuth2 client credentials against a configurable authority (Entra ID or a stand-in)."""

    def __init__(self, *, authority_host: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.authority_host = authority_host.rstrip("/")

    @property
    def token_url(self) -> str:
        return f"{self.authority_host}/{self.tenant_id}/oauth2/v2.0/token"


def build_protocol(config: ServiceConfig, secret: str) -> ServiceProtocol:
    """The protocol (session pool, auth, TLS, timeouts) for a service; `secret` is not kept
    anywhere but in exchangelib's credentials object."""
    if config.auth_type == "oauth2":
        identity = (
            Identity(primary_smtp_address=config.username) if "@" in config.username else None
        )
        credentials = _ClientCredentials(
            authority_host=config.authority_host,
            client_id=config.client_id,
            client_secret=secret,
            tenant_id=config.tenant_id,
            identity=identity,
        )
    else:
        credentials = Credentials(username=config.username, password=secret)
    version = None
    if config.version_tuple:
        version = Version(build=Build(*config.version_tuple))
    ews_config = Configuration(
        service_endpoint=config.endpoint,
        credentials=credentials,
        auth_type=_AUTH[config.auth_type],
        version=version,
        retry_policy=FailFast(),  # retries are the connector's (see retry.py)
        max_connections=min(config.max_connections, MAX_CONNECTIONS_LIMIT),
    )
    verify: bool | str = config.ca_bundle or config.verify_tls
    return ServiceProtocol(
        config=ews_config, verify=verify, timeout=(config.connect_timeout, config.read_timeout)
    )


class AccountPool:
    """One exchangelib Account per mailbox, all sharing the service's protocol.

    Creating an Account sends nothing (endpoint, auth type and version are given); the
    connector never touches `account.root` / `account.calendar`, which would cost two
    GetFolder requests per Account, and addresses the calendar by DistinguishedFolderId.
    """

    def __init__(self, protocol: ServiceProtocol, access_type: str) -> None:
        self.protocol = protocol
        self._access_type = IMPERSONATION if access_type == "impersonation" else DELEGATE
        self._accounts: dict[str, Account] = {}
        self._lock = threading.Lock()

    def get(self, mailbox: str, access_type: str | None = None) -> Account:
        """The Account for `mailbox` (with the service's access type unless one is given)."""
        kind = self._access_type
        if access_type is not None:
            kind = IMPERSONATION if access_type == "impersonation" else DELEGATE
        key = f"{kind}:{mailbox.lower()}"
        with self._lock:
            account = self._accounts.get(key)
            if account is None:
                account = Account(
                    primary_smtp_address=mailbox,
                    config=self.protocol.config,
                    autodiscover=False,
                    access_type=kind,
                    default_timezone=UTC,
                    locale="en_US",
                )
                # Account() registered a plain Protocol in exchangelib's global cache: use ours
                # and drop that one, so no second session pool (or credentials copy) lingers.
                account.protocol = self.protocol
                with suppress(KeyError):
                    del Protocol[self.protocol.config]
                self._accounts[key] = account
            return account

    def close(self) -> None:
        self.protocol.close()
        with self._lock:
            self._accounts.clear()
