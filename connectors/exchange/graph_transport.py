"""HTTP to Microsoft Graph for one service: a requests session, msal tokens, per-mailbox limits.

- One `requests.Session` per service. Its adapter pins TLS verification to the service's
  setting (`ca_bundle` or the system store) and its (connect, read) timeouts on every send, so
  neither `REQUESTS_CA_BUNDLE` nor another service's settings apply to it.
- Tokens: msal `ConfidentialClientApplication` (client credentials) for
  `{authority_host}/{tenant_id}`, scope `{Graph origin}/.default`. msal keeps the token in its
  in-memory cache and asks the authority again only shortly before expiry, so there is no token
  request per Graph request. Hosts msal does not know (a stand-in, a private cloud) are used
  without instance discovery.
- Each mailbox admits at most `MAILBOX_CONCURRENCY` (4) requests of this process at a time:
  Exchange Online refuses more concurrent requests per app and mailbox with 429.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from connectors.exchange.base import RequestStats
from connectors.exchange.config import ServiceConfig
from connectors.exchange.pinned_adapter import PinnedAdapter

MAILBOX_CONCURRENCY = 4
PREFER = 'outlook.timezone="UTC", IdType="ImmutableId", outlook.body-content-type="text"'


class GraphHttpError(Exception):
    """A Graph answer with an error status (the body's error code and message)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        retry_after: float | None = None,
        url: str = "",
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.retry_after, self.url = retry_after, url


class TokenFailure(Exception):
    """The authority refused to issue a token (msal's error and description)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description = error, description


def error_of(status: int, body: Any, headers: Any, url: str = "") -> GraphHttpError:
    """A GraphHttpError from an answer's status, JSON body and headers."""
    err = (body or {}).get("error") if isinstance(body, dict) else None
    code = (err or {}).get("code") or f"HTTP{status}"
    message = (err or {}).get("message") or ""
    return GraphHttpError(status, code, message, retry_after_of(headers), url)


def retry_after_of(headers: Any) -> float | None:
    """Seconds from a Retry-After header (None when absent or unreadable)."""
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def build_session(config: ServiceConfig) -> requests.Session:
    """The service's session (TLS and timeouts pinned in its adapter)."""
    verify: bool | str = config.ca_bundle or True if config.verify_tls else False
    adapter = PinnedAdapter(
        verify,
        (config.connect_timeout, config.read_timeout),
        pool_connections=config.max_connections,
        pool_maxsize=config.max_connections,
    )
    session = requests.Session()
    session.trust_env = False  # no proxy/CA settings from the environment override the service's
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@dataclass(frozen=True)
class Token:
    """An access token and the application permissions (roles) it carries, if readable."""

    value: str
    roles: tuple[str, ...] | None


class TokenSource:
    """Client-credentials tokens for one app registration, cached by msal until expiry."""

    def __init__(self, config: ServiceConfig, secret: str, session: requests.Session) -> None:
        self.config = config
        self._secret = secret
        self._session = session
        self._app: Any = None  # msal's client, made on first use (msal is untyped)
        self._lock = threading.Lock()
        origin = urlsplit(config.endpoint)
        self.scope = f"{origin.scheme}://{origin.netloc}/.default"
        self.authority = f"{config.authority_host.rstrip('/')}/{config.tenant_id}"

    def _msal(self) -> Any:
        with self._lock:
            if self._app is None:
                import msal
                from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

                host = (urlsplit(self.config.authority_host).hostname or "").lower()
                self._app = msal.ConfidentialClientApplication(
                    self.config.client_id,
                    client_credential=self._secret,
                    authority=self.authority,
                    http_client=self._session,
                    instance_discovery=None if host in WELL_KNOWN_AUTHORITY_HOSTS else False,
                )
            return self._app

    def get(self) -> Token:
        """A valid token (from msal's cache when it has one); raises TokenFailure."""
        result = self._msal().acquire_token_for_client([self.scope])
        if "access_token" not in result:
            raise TokenFailure(result.get("error", "unknown"), result.get("error_description", ""))
        return Token(result["access_token"], roles_of(result["access_token"]))

    def drop(self) -> None:
        """Forget the cached token (Graph refused it), so the next `get` asks for a new one."""
        if self._app is not None:
            self._app.remove_tokens_for_client()


def roles_of(token: str) -> tuple[str, ...] | None:
    """The `roles` claim of a JWT access token; None when the token is not readable as JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, json.JSONDecodeError):
        return None
    return tuple(claims.get("roles") or ())


_slots: dict[tuple[str, str], threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


class MailboxSlots:
    """At most N concurrent requests per app and mailbox from this process.

    Exchange Online counts concurrency per app and mailbox, so the semaphores are process-wide
    (shared by every connector of the same app), keyed like the throttling gates.
    """

    def __init__(self, app_key: str, limit: int = MAILBOX_CONCURRENCY) -> None:
        self._app = app_key.lower()
        self._limit = limit

    def __call__(self, mailbox: str | None) -> threading.BoundedSemaphore:
        key = (self._app, (mailbox or "").lower())
        with _slots_lock:
            sem = _slots.get(key)
            if sem is None:
                sem = _slots[key] = threading.BoundedSemaphore(self._limit)
            return sem


class GraphClient:
    """Sends one Graph request with the service's token and the standard Prefer headers."""

    def __init__(self, config: ServiceConfig, secret: str, stats: RequestStats) -> None:
        self.config = config
        self.base = config.endpoint.rstrip("/")
        self.session = build_session(config)
        self.tokens = TokenSource(config, secret, self.session)
        self.stats = stats
        origin = urlsplit(config.endpoint)
        self.slots = MailboxSlots(f"{origin.netloc}|{config.tenant_id}|{config.client_id}")
        # The application permissions of the last token sent (None: not known yet).
        self.roles: tuple[str, ...] | None = None

    def url(self, path: str) -> str:
        """Absolute URL of a path relative to the endpoint (absolute URLs pass through)."""
        return (
            path if path.startswith("https://") or path.startswith("http://") else self.base + path
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        mailbox: str | None,
        operation: str,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The JSON answer (None for 204); raises GraphHttpError for an error status.

        A 401 (token refused, e.g. revoked or expired early) is retried once with a new token.
        """
        for attempt in (1, 2):
            token = self.tokens.get()
            self.roles = token.roles
            hdrs = {"Authorization": f"Bearer {token.value}", "Prefer": PREFER}
            hdrs.update(headers or {})
            with self.slots(mailbox):
                self.stats.add(operation)
                resp = self.session.request(
                    method, self.url(path), params=params, json=json_body, headers=hdrs
                )
            if resp.status_code == 401 and attempt == 1:
                self.tokens.drop()
                continue
            if resp.status_code >= 400:
                raise error_of(resp.status_code, _json(resp), resp.headers, resp.url)
            return _json(resp) if resp.content else None
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None
