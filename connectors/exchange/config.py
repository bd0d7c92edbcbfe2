"""The one model of an Exchange service (a provider's master account).

The CLI builds it from flags, the platform store saves and loads it (`connectors.platform`
maps its `services` table onto it), and `connect(config, ...)` turns it into a connector. It
is frozen and hashable, and holds a secret *reference* (`env:VAR` / `prefect-secret:BLOCK`),
never the secret itself.

Every problem with the settings becomes one `ConfigurationError` that lists all of them, each
with what to do, so an administrator fixes a service in one go.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails

from connectors.secrets import parse_secret_ref
from sync_rules.errors import ConfigurationError

Backend = Literal["ews", "graph"]
AuthType = Literal["basic", "ntlm", "oauth2"]
AccessType = Literal["delegate", "impersonation"]
BACKENDS: tuple[str, ...] = get_args(Backend)
AUTH_TYPES: tuple[str, ...] = get_args(AuthType)
ACCESS_TYPES: tuple[str, ...] = get_args(AccessType)

#: Exchange's default EWSMaxConcurrency: more parallel requests per account only get throttled.
MAX_CONNECTIONS_LIMIT = 27
DEFAULT_MAX_CONNECTIONS = 8
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
EWS_EXAMPLE = "https://mail.example.com/EWS/Exchange.asmx"
GRAPH_EXAMPLE = "https://graph.microsoft.com/v1.0"

#: How a refused choice is named in messages: (what, field).
_CHOICES = {
    "backend": ("backend", BACKENDS),
    "auth_type": ("auth type", AUTH_TYPES),
    "access_type": ("access type", ACCESS_TYPES),
}
_MAX_CONNECTIONS_PROBLEM = (
    f"max_connections must be between 1 and {MAX_CONNECTIONS_LIMIT}",
    f"Exchange allows {MAX_CONNECTIONS_LIMIT} concurrent requests per account; choose "
    f"{DEFAULT_MAX_CONNECTIONS} unless told otherwise.",
)

Problem = tuple[str, str]  # (what is wrong, what to do)


class _Problems(ValueError):
    """The cross-field problems found after the fields themselves validated."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(text for text, _ in problems))
        self.problems = problems


class ServiceConfig(BaseModel):
    """One Exchange service (the master account) of a training provider."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    endpoint: str
    username: str
    secret_ref: str
    backend: Backend = "ews"
    auth_type: AuthType = "basic"
    access_type: AccessType = "delegate"
    tenant_id: str | None = None
    client_id: str | None = None
    authority_host: str = DEFAULT_AUTHORITY_HOST
    server_version: str | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    def __init__(self, **data: Any) -> None:
        # Absent optional settings (an empty CLI flag, a NULL column) mean the default.
        data = {k: v for k, v in data.items() if v is not None or k not in _DEFAULTED}
        try:
            super().__init__(**data)
        except ValidationError as exc:
            problems = [p for error in exc.errors() for p in _explain(error)]
            name = data.get("name") or "(unnamed)"
            raise ConfigurationError(
                f"Exchange service {name!r} is misconfigured: "
                + "; ".join(text for text, _ in problems)
                + ".",
                " ".join(dict.fromkeys(hint for _, hint in problems)),
            ) from None

    @model_validator(mode="after")
    def _consistent(self) -> ServiceConfig:
        problems = list(_problems(self))
        if problems:
            raise _Problems(problems)
        return self

    @property
    def master_domain(self) -> str | None:
        """The mail domain of the master account, when the username is an address."""
        return mail_domain(self.username)

    @property
    def version_tuple(self) -> tuple[int, ...] | None:
        """The pinned server version as integers (e.g. (15, 2)), or None to probe."""
        if not self.server_version:
            return None
        return tuple(int(p) for p in self.server_version.split("."))

    def stored_fields(self) -> dict[str, Any]:
        """The settings the platform store keeps (its `services` columns)."""
        return self.model_dump(include=set(STORED_FIELDS))

    def with_secret_ref(self, secret_ref: str) -> ServiceConfig:
        """The same service with another secret reference (checked like any other)."""
        return ServiceConfig(**{**self.model_dump(), "secret_ref": secret_ref})


def check_ca_bundle(config: ServiceConfig) -> None:
    """Refuse a CA bundle this machine cannot use: missing, unreadable, or holding no PEM
    certificate. It looks at a file, so it runs where the file is used (when a service is
    added, and when it connects), not whenever a stored service is read."""
    if not config.ca_bundle:
        return
    try:
        ssl.create_default_context().load_verify_locations(cafile=config.ca_bundle)
    except ssl.SSLError:
        reason = "it holds no PEM certificate"
    except FileNotFoundError:
        reason = "there is no such file"
    except IsADirectoryError:
        reason = "it is a directory"
    except OSError as exc:
        reason = f"it cannot be read ({exc.strerror or exc})"
    else:
        return
    raise ConfigurationError(
        f"The CA bundle {config.ca_bundle} of service {config.name!r} cannot be used: {reason}.",
        "Give (--ca-bundle) the PEM file of the CA that issued the server's certificate "
        "(-----BEGIN CERTIFICATE-----), readable by the user that runs trainer-sync.",
    )


def mail_domain(username: str) -> str | None:
    """The mail domain of a username that is an address (None for `DOMAIN\\user` and the like)."""
    _, at, domain = username.rpartition("@")
    return domain.lower() if at and domain else None


#: The settings a stored service keeps; timeouts are the connector's own defaults.
STORED_FIELDS = tuple(f for f in ServiceConfig.model_fields if not f.endswith("_timeout"))
#: Fields whose None means "use the default" rather than a value.
_DEFAULTED = frozenset({"authority_host", "verify_tls", "max_connections", "backend"})


def _explain(error: ErrorDetails) -> Iterator[Problem]:
    """Readable problems (with what to do) from one pydantic error."""
    ctx = error.get("ctx") or {}
    if isinstance(ctx.get("error"), _Problems):
        yield from ctx["error"].problems
        return
    field = str(error["loc"][0]) if error["loc"] else ""
    if field in _CHOICES:
        what, allowed = _CHOICES[field]
        yield (
            f"Unknown {what} {error['input']!r}: {field} must be one of {', '.join(allowed)}",
            f"Use one of: {', '.join(allowed)}.",
        )
    elif field == "max_connections":
        yield _MAX_CONNECTIONS_PROBLEM
    elif field in ("connect_timeout", "read_timeout"):
        yield "timeouts must be positive numbers of seconds", "Give e.g. 10 and 120."
    elif error["type"] == "extra_forbidden":
        yield f"{field} is not a service setting", "Remove it."
    else:
        yield (
            f"{field or 'the settings'}: {error['msg']}",
            (
                f"Correct {field or 'the settings'} in `trainer-sync service add`, or of a saved "
                "service with `trainer-sync service set NAME`."
            ),
        )


def _problems(cfg: ServiceConfig) -> Iterator[Problem]:
    if not cfg.name.strip():
        yield "the name is empty", "Give the service a name."
    endpoint_problem = _endpoint_problem(cfg.endpoint or "")
    if endpoint_problem:
        example = GRAPH_EXAMPLE if cfg.backend == "graph" else EWS_EXAMPLE
        yield (
            f"endpoint {cfg.endpoint!r} {endpoint_problem} (e.g. {example})",
            f"Give the EWS URL, e.g. {EWS_EXAMPLE}, or for graph the Graph base URL "
            f"{GRAPH_EXAMPLE}.",
        )
    if cfg.backend == "graph":
        yield from _graph_problems(cfg)
    yield from _username_problems(cfg)
    if not cfg.secret_ref:
        yield "no secret reference is set", "Give --secret env:VARIABLE or --secret-stdin."
    else:
        try:
            parse_secret_ref(cfg.secret_ref)
        except ConfigurationError as exc:
            yield exc.message.rstrip("."), exc.hint or ""
    if cfg.auth_type == "oauth2":
        if not cfg.tenant_id or not cfg.client_id:
            yield "OAuth2 needs tenant_id and client_id", "Pass --tenant and --client-id."
        if cfg.access_type != "impersonation":
            yield (
                "OAuth2 client credentials act as an application: use access_type impersonation",
                "Pass --access impersonation.",
            )
    if cfg.server_version:
        parts = cfg.server_version.split(".")
        if not 2 <= len(parts) <= 4 or not all(p.isdigit() for p in parts):
            yield (
                f"server_version {cfg.server_version!r} is not like 15.2 or 15.2.1118.7",
                "Give the Exchange build, e.g. 15.2, or leave it out to ask the server.",
            )
        elif int(parts[0]) < 14:
            yield "server_version must be Exchange 2010 (14) or later", "Give e.g. 15.2."
    if not 1 <= cfg.max_connections <= MAX_CONNECTIONS_LIMIT:
        yield _MAX_CONNECTIONS_PROBLEM
    if cfg.connect_timeout <= 0 or cfg.read_timeout <= 0:
        yield "timeouts must be positive numbers of seconds", "Give e.g. 10 and 120."
    if cfg.ca_bundle and not cfg.verify_tls:
        yield (
            "a CA bundle is set but TLS verification is off",
            "Drop the CA bundle, or turn TLS verification back on.",
        )


def _endpoint_problem(endpoint: str) -> str | None:
    """What makes `endpoint` unusable as a service URL (scheme, host, port), or None."""
    url = urlsplit(endpoint)
    if url.scheme not in ("http", "https"):
        return "is not an http(s) URL"
    if not url.hostname:
        return "has no host"
    if not _HOST.match(url.hostname):
        return f"has an invalid host {url.hostname!r}"
    try:
        port = url.port  # raises ValueError when not a number from 0 to 65535
    except ValueError:
        _, _, text = url.netloc.rpartition(":")
        return f"has an invalid port {text!r}: ports go from 1 to 65535"
    if port == 0:
        return "has port 0: ports go from 1 to 65535"
    return None


#: A host name or an IPv4 / IPv6 address, as `urlsplit` gives it (no brackets, lower case).
_HOST = re.compile(r"^[a-z0-9.\-_:%]+$")
#: `DOMAIN\user`: a Windows (down-level) logon name.
_DOWN_LEVEL = re.compile(r"^[^\\@\s]+\\[^\\@\s]+$")
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")


def _username_problems(cfg: ServiceConfig) -> Iterator[Problem]:
    username = cfg.username.strip()
    if not username:
        yield "the username is empty", "Give the master account, e.g. master@example.com."
        return
    if _ADDRESS.match(username):
        return
    windows_sign_in = cfg.backend == "ews" and cfg.auth_type in ("basic", "ntlm")
    if _DOWN_LEVEL.match(username) and windows_sign_in:
        return
    if _DOWN_LEVEL.match(username):
        yield (
            f"username {username!r} is a Windows logon (DOMAIN\\user), which only Exchange "
            f"Server's basic and NTLM sign-ins take, not {cfg.backend} with {cfg.auth_type}",
            "Give the account's address, e.g. master@example.com.",
        )
        return
    yield (
        f"username {username!r} is neither an address (master@example.com) nor a Windows "
        "logon (DOMAIN\\user)",
        "Give the master account's address, e.g. --username master@example.com, or for an "
        "on-premises Exchange Server its Windows logon, e.g. --username 'ACME\\master' "
        "--auth ntlm.",
    )


def _graph_problems(cfg: ServiceConfig) -> Iterator[Problem]:
    """Microsoft Graph: an application (client credentials) over HTTPS, endpoint .../v1.0."""
    if cfg.auth_type != "oauth2":
        yield (
            "the graph backend signs in as an application: use auth_type oauth2",
            "Pass --auth oauth2 with --tenant, --client-id and --secret.",
        )
    url = urlsplit(cfg.endpoint or "")
    if url.scheme == "http":
        yield "Microsoft Graph is served over HTTPS only", f"Use {GRAPH_EXAMPLE}."
    if url.netloc and url.path.rstrip("/") != "/v1.0":
        yield (
            f"endpoint {cfg.endpoint!r} must be the Graph base URL ending in /v1.0",
            f"Use e.g. {GRAPH_EXAMPLE}.",
        )
    host = urlsplit(cfg.authority_host or "")
    if host.scheme != "https" or not host.netloc:
        yield (
            f"authority_host {cfg.authority_host!r} is not an https URL",
            f"Leave it out for {DEFAULT_AUTHORITY_HOST}, or give your cloud's https authority.",
        )
