"""Graph, identity-platform and transport failures -> the connector's error classes.

The same classes as for EWS (`connectors.exchange.errors`), with Graph-specific advice: no
calendar permission at all (neither an RBAC for Applications assignment nor admin consent:
every mailbox refused), a mailbox outside the app's RBAC-for-Applications scope (that mailbox
refused), read-only permission, a user without an Exchange Online mailbox
(`MailboxNotEnabledForRESTAPI`). Which 403 it is, the connector's access check finds out by
comparing with the service's own mailbox; permissions granted through RBAC for Applications do
not appear in the token, so its `roles` claim only ever proves a tenant-wide grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from connectors.exchange.errors import (
    AccessDenied,
    AuthenticationFailed,
    Conflict,
    EndpointNotFound,
    ExchangeError,
    InvalidItem,
    ItemNotFound,
    MailboxNotFound,
    ServerBusy,
    ServiceUnavailable,
    ServiceUnreachable,
    TlsError,
)
from connectors.exchange.graph_transport import GraphHttpError, TokenFailure, error_of
from connectors.exchange.http_failures import never_sent
from connectors.exchange.retry import Failure, FailureKind

WRITE_ROLE = "Calendars.ReadWrite"
READ_ROLES = frozenset({"Calendars.Read", "Calendars.ReadWrite", "Calendars.ReadBasic.All"})
DOCS = "docs/exchange-online.md"
NO_USER_CODES = frozenset({"ErrorInvalidUser", "ResourceNotFound", "Request_ResourceNotFound"})
NO_MAILBOX_CODES = frozenset({"MailboxNotEnabledForRESTAPI", "MailboxNotSupportedForRESTAPI"})
DENIED_CODES = frozenset({"ErrorAccessDenied", "Authorization_RequestDenied", "AccessDenied"})


@dataclass(frozen=True)
class Context:
    """What a message needs to name: the service, the app, the mailbox, the token's roles."""

    service: str
    endpoint: str
    authority: str
    tenant_id: str
    client_id: str
    secret_ref: str
    mailbox: str | None = None
    roles: tuple[str, ...] | None = None  # None: the token's roles are not known


def tenant_wide_write(roles: tuple[str, ...] | None) -> bool:
    """True when the token shows Calendars.ReadWrite consented in Entra ID (every mailbox)."""
    return roles is not None and WRITE_ROLE in roles


_GRANT = (
    "Grant the app the Exchange Online role 'Application Calendars.ReadWrite' with RBAC for "
    "Applications (New-ServicePrincipal, New-ManagementScope, New-ManagementRoleAssignment "
    "-Role 'Application Calendars.ReadWrite' -CustomResourceScope <scope>), or, without "
    "scoping, add Microsoft Graph > Application permissions > Calendars.ReadWrite to the app "
    f"registration and grant admin consent; see {DOCS}."
)


def no_permission_error(ctx: Context, mailbox: str) -> AccessDenied:
    """Not even the service's own mailbox opens: the app holds no calendar permission."""
    return AccessDenied(
        f"Exchange Online denies the app {ctx.client_id} of service {ctx.service!r} access to "
        f"the calendar of {mailbox} (ErrorAccessDenied): the app holds no calendar permission "
        f"in tenant {ctx.tenant_id} (no RBAC for Applications assignment of 'Application "
        "Calendars.ReadWrite' whose scope includes the mailbox, and no admin-consented "
        "Calendars.ReadWrite).",
        _GRANT,
    )


def scope_error(ctx: Context, mailbox: str) -> AccessDenied:
    """Other mailboxes open, this one does not: it is outside the app's management scope."""
    return AccessDenied(
        f"The app {ctx.client_id} of service {ctx.service!r} may not open the mailbox "
        f"{mailbox} (ErrorAccessDenied): the mailbox is outside the management scope of the "
        "app's RBAC for Applications role assignment.",
        "Add the trainer to what the management scope selects (e.g. the mail-enabled group its "
        "filter names) or widen the scope (Set-ManagementScope), then check with "
        f"Test-ServicePrincipalAuthorization -Identity <app> -Resource {mailbox}; see {DOCS}.",
    )


def read_only_error(ctx: Context, mailbox: str) -> AccessDenied:
    """The app may read the calendar but not write it (Calendars.Read only)."""
    return AccessDenied(
        f"The app {ctx.client_id} of service {ctx.service!r} may read but not write the "
        f"calendar of {mailbox}: it holds Calendars.Read, not Calendars.ReadWrite.",
        "Assign 'Application Calendars.ReadWrite' instead of 'Application Calendars.Read' "
        "(New-ManagementRoleAssignment), or consent Calendars.ReadWrite in Entra ID; see "
        f"{DOCS}.",
    )


def denied_error(ctx: Context, mailbox: str) -> AccessDenied:
    """A 403 met during reads or writes, before knowing which of the causes it is."""
    return AccessDenied(
        f"Exchange Online denies the app {ctx.client_id} of service {ctx.service!r} access to "
        f"{mailbox} (ErrorAccessDenied): the mailbox is outside the scope of the app's RBAC "
        "for Applications assignment, or the app lacks Calendars.ReadWrite (no assignment, no "
        "admin consent).",
        f"Run the trainer's access check to tell which; {_GRANT}",
    )


def mailbox_missing(ctx: Context, mailbox: str, code: str) -> MailboxNotFound:
    """No such user, or a user without an Exchange Online mailbox."""
    if code in NO_MAILBOX_CODES:
        return MailboxNotFound(
            f"The user {mailbox} has no Exchange Online mailbox that Graph can open ({code}: the "
            "mailbox is inactive, soft-deleted or hosted on-premises).",
            "Assign the user an Exchange Online licence, or sync this trainer through an EWS "
            "service of the on-premises Exchange server.",
        )
    return MailboxNotFound(
        f"No user {mailbox} exists in tenant {ctx.tenant_id} ({code}).",
        "Correct the trainer's mailbox address (it must be the user's primary address or UPN) "
        "with `trainer-sync trainer set EMAIL --mailbox ADDRESS`.",
    )


def http_error(err: GraphHttpError, ctx: Context) -> ExchangeError:
    """The connector error for a Graph error answer."""
    mailbox = ctx.mailbox or "the mailbox"
    status, code = err.status, err.code
    detail = f"{code}: {err.message}".strip(": ")
    if status == 401:
        return AuthenticationFailed(
            f"Microsoft Graph refused the access token of app {ctx.client_id} ({detail}).",
            "Check that the app registration belongs to the tenant of this Graph endpoint and "
            "that its secret is valid.",
        )
    if status == 403 or code in DENIED_CODES:
        return denied_error(ctx, mailbox)
    if code in NO_USER_CODES or code in NO_MAILBOX_CODES:
        return mailbox_missing(ctx, mailbox, code)
    if code == "ErrorItemNotFound":
        return ItemNotFound(f"The calendar item no longer exists in {mailbox} ({detail}).")
    if status == 412 or code in ("ErrorIrresolvableConflict", "PreconditionFailed"):
        return Conflict(f"The item in {mailbox} changed since it was read ({detail}).")
    if status == 404:
        return EndpointNotFound(
            f"{err.url or ctx.endpoint} answered 404 ({detail}): the endpoint of service "
            f"{ctx.service!r} is not Microsoft Graph v1.0.",
            "Set the endpoint to https://graph.microsoft.com/v1.0 (or your national cloud's "
            "Graph host followed by /v1.0).",
        )
    if status == 429:
        return ServerBusy(
            f"Microsoft Graph kept throttling requests to {mailbox} ({detail}).",
            "Lower the number of trainers synced in parallel for this service.",
        )
    if status >= 500:
        return ServiceUnavailable(f"Microsoft Graph failed transiently (HTTP {status} {detail}).")
    return InvalidItem(
        f"Microsoft Graph refused the request for {mailbox} (HTTP {status} {detail})."
    )


def token_error(exc: TokenFailure, ctx: Context) -> ExchangeError:
    """The connector error for an identity-platform refusal."""
    desc = exc.description.splitlines()[0] if exc.description else exc.error
    if exc.error in ("invalid_client",):
        return AuthenticationFailed(
            f"The identity platform rejected the client secret of app {ctx.client_id} in tenant "
            f"{ctx.tenant_id} ({desc}).",
            f"Create a new client secret for the app registration, store its value where "
            f"{ctx.secret_ref} points, and save the service again.",
        )
    if exc.error in ("unauthorized_client", "invalid_request", "invalid_grant"):
        return AuthenticationFailed(
            f"The identity platform at {ctx.authority} does not know app {ctx.client_id} ({desc}).",
            "Check client_id and tenant_id (the app must be registered in that tenant) and "
            "authority_host (national clouds use their own).",
        )
    if exc.error in ("invalid_scope", "invalid_resource"):
        return EndpointNotFound(
            f"The identity platform issues no token for {ctx.endpoint} ({desc}).",
            "Use the Graph endpoint of the authority's cloud (https://graph.microsoft.com/v1.0 "
            "with https://login.microsoftonline.com).",
        )
    if exc.error in ("temporarily_unavailable", "server_error"):
        return ServiceUnavailable(f"The identity platform failed transiently ({desc}).")
    return AuthenticationFailed(
        f"No token for app {ctx.client_id} from {ctx.authority} ({exc.error}: {desc}).",
        "Check tenant_id, client_id, the secret and authority_host of the service.",
    )


def classify(exc: BaseException, ctx: Context) -> Failure:
    """How to treat an exception from one Graph or token request (see retry.run_with_retry).

    Only a request that never reached Graph (refused connection, DNS, connect timeout) or one
    Graph refused (429, 503) is known not to have been carried out.
    """
    if isinstance(exc, GraphHttpError):
        error = http_error(exc, ctx)
        if exc.status == 429:
            return Failure("busy", error, back_off=exc.retry_after)
        if exc.status == 503:
            return Failure("transient", error, back_off=exc.retry_after)
        if exc.status >= 500:
            return Failure("transient", error, repeatable=False)
        return Failure("permanent", error)
    if isinstance(exc, TokenFailure):
        error = token_error(exc, ctx)
        kind: FailureKind = "transient" if isinstance(error, ServiceUnavailable) else "permanent"
        return Failure(kind, error)
    if isinstance(exc, requests.exceptions.SSLError):
        return Failure(
            "permanent",
            TlsError(
                f"The TLS certificate of {ctx.endpoint} or {ctx.authority} could not be verified "
                f"({exc}).",
                "Install the organisation's CA bundle and set ca_bundle on the service.",
            ),
        )
    if isinstance(exc, requests.exceptions.RequestException) and never_sent(exc):
        return Failure(
            "transient",
            ServiceUnreachable(
                f"Cannot connect to {ctx.endpoint} or {ctx.authority} ({type(exc).__name__}).",
                "Check the endpoint, authority_host and the network path to them.",
            ),
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return Failure(
            "transient",
            ServiceUnavailable(f"{ctx.endpoint} did not answer in time (read timeout)."),
            repeatable=False,
        )
    if isinstance(exc, requests.exceptions.RequestException):
        # Reset or dropped after the request went out: Graph may have carried it out.
        return Failure(
            "transient",
            ServiceUnavailable(f"The connection to {ctx.endpoint} failed ({exc})."),
            repeatable=False,
        )
    if isinstance(exc, ValueError) and "authority" in str(exc).lower():
        # msal could not read the tenant's OpenID configuration (unknown tenant or host).
        return Failure(
            "permanent",
            AuthenticationFailed(
                f"The authority {ctx.authority} has no tenant {ctx.tenant_id} (its OpenID "
                "configuration could not be read).",
                "Check tenant_id (directory id or a verified domain) and authority_host.",
            ),
        )
    raise exc


def item_failure(
    status: int, body: dict[str, Any] | None, headers: dict[str, str] | None, ctx: Context
) -> ExchangeError:
    """The connector error of one `$batch` sub-response."""
    return http_error(error_of(status, body, headers), ctx)
