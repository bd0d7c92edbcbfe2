"""The master-account configuration of one Exchange service, as stored by the platform store.

A plain frozen dataclass: the store maps its `services` table onto it, the CLI builds it from
flags, and `connect(config)` turns it into a connector. It holds a secret *reference*
(`env:VAR` / `prefect-secret:BLOCK`), never the secret itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sync_rules.errors import ConfigurationError

BACKENDS = ("ews", "graph")
AUTH_TYPES = ("basic", "ntlm", "oauth2")
ACCESS_TYPES = ("delegate", "impersonation")
# Exchange's default EWSMaxConcurrency: more parallel requests per account only get throttled.
MAX_CONNECTIONS_LIMIT = 27
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"


@dataclass(frozen=True)
class ServiceConfig:
    """One Exchange service (the master account) of a training provider."""

    name: str
    endpoint: str
    username: str
    secret_ref: str
    backend: str = "ews"
    auth_type: str = "basic"
    access_type: str = "delegate"
    tenant_id: str | None = None
    client_id: str | None = None
    authority_host: str = DEFAULT_AUTHORITY_HOST
    server_version: str | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_connections: int = 8

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise ConfigurationError(
                f"Exchange service {self.name!r} is misconfigured: " + "; ".join(problems) + ".",
                "Correct the service settings and save again.",
            )

    @property
    def master_domain(self) -> str | None:
        """The mail domain of the master account, when the username is an address."""
        _, at, domain = self.username.rpartition("@")
        return domain.lower() if at and domain else None

    @property
    def version_tuple(self) -> tuple[int, ...] | None:
        """The pinned server version as integers (e.g. (15, 2)), or None to probe."""
        if not self.server_version:
            return None
        return tuple(int(p) for p in self.server_version.split("."))


def _problems(cfg: ServiceConfig):
    if not cfg.name:
        yield "the name is empty"
    if cfg.backend not in BACKENDS:
        yield f"backend {cfg.backend!r} is not one of {', '.join(BACKENDS)}"
    if cfg.auth_type not in AUTH_TYPES:
        yield f"auth_type {cfg.auth_type!r} is not one of {', '.join(AUTH_TYPES)}"
    if cfg.access_type not in ACCESS_TYPES:
        yield f"access_type {cfg.access_type!r} is not one of {', '.join(ACCESS_TYPES)}"
    url = urlsplit(cfg.endpoint or "")
    example = (
        "https://graph.microsoft.com/v1.0"
        if cfg.backend == "graph"
        else "https://mail.example.com/EWS/Exchange.asmx"
    )
    if url.scheme not in ("http", "https") or not url.netloc:
        yield f"endpoint {cfg.endpoint!r} is not an http(s) URL (e.g. {example})"
    if cfg.backend == "graph":
        yield from _graph_problems(cfg)
    if not cfg.username:
        yield "the username is empty"
    if not cfg.secret_ref:
        yield "no secret reference is set"
    if cfg.auth_type == "oauth2":
        if not cfg.tenant_id or not cfg.client_id:
            yield "OAuth2 needs tenant_id and client_id"
        if cfg.access_type != "impersonation":
            yield "OAuth2 client credentials act as an application: use access_type impersonation"
    if cfg.server_version:
        parts = cfg.server_version.split(".")
        if not 2 <= len(parts) <= 4 or not all(p.isdigit() for p in parts):
            yield f"server_version {cfg.server_version!r} is not like 15.2 or 15.2.1118.7"
        elif int(parts[0]) < 14:
            yield "server_version must be Exchange 2010 (14) or later"
    if not isinstance(cfg.max_connections, int) or not 1 <= cfg.max_connections <= 27:
        yield f"max_connections must be between 1 and {MAX_CONNECTIONS_LIMIT}"
    if cfg.connect_timeout <= 0 or cfg.read_timeout <= 0:
        yield "timeouts must be positive"
    if cfg.ca_bundle and not cfg.verify_tls:
        yield "a CA bundle is set but TLS verification is off"


def _graph_problems(cfg: ServiceConfig):
    """Microsoft Graph: an application (client credentials) over HTTPS, endpoint .../v1.0."""
    if cfg.auth_type != "oauth2":
        yield "the graph backend signs in as an application: use auth_type oauth2"
    url = urlsplit(cfg.endpoint or "")
    if url.scheme == "http":
        yield "Microsoft Graph is served over HTTPS only"
    if url.netloc and url.path.rstrip("/") != "/v1.0":
        yield f"endpoint {cfg.endpoint!r} must be the Graph base URL ending in /v1.0"
    host = urlsplit(cfg.authority_host or "")
    if host.scheme != "https" or not host.netloc:
        yield f"authority_host {cfg.authority_host!r} is not an https URL"
