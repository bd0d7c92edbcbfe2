"""Turn what exchangelib, requests and oauthlib raise into the connector's classified errors.

Each message names the service, endpoint or mailbox concerned and says what to do; none
contains the secret or exchangelib's raw response dump.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exchangelib import errors as ews
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

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
from connectors.exchange.http_failures import bad_url, connection_broke, never_sent, tls_failed
from connectors.exchange.retry import Failure, FailureKind


@dataclass(frozen=True)
class Context:
    """Who was talking to whom, for error messages."""

    service: str
    endpoint: str
    username: str
    access_type: str
    secret_ref: str
    mailbox: str | None = None
    auth_type: str = "basic"
    client_id: str | None = None


def grant_instruction(ctx: Context, mailbox: str, role: str = "Editor") -> str:
    """Exactly what must be granted for the master account to sync `mailbox`.

    `role` is the delegate calendar role needed: Reviewer (read) for `in`, Editor otherwise.
    """
    if ctx.auth_type == "oauth2":
        return (
            f"Give the application {ctx.client_id} access to {mailbox}: the Exchange application "
            "permission full_access_as_app (EWS), scoped to the trainers' mailboxes with an "
            "application access policy or RBAC for Applications."
        )
    if ctx.access_type == "impersonation":
        return (
            f"Give the master account {ctx.username} the ApplicationImpersonation right, e.g. in "
            f"the Exchange Management Shell: New-ManagementRoleAssignment -Name trainer-sync "
            f"-Role ApplicationImpersonation -User {ctx.username} (add -CustomRecipientWriteScope "
            f"to limit it to the trainers' mailboxes, including {mailbox})."
        )
    return (
        f"Grant {ctx.username} {role} on the Calendar of {mailbox} through Outlook > File > "
        f"Account Settings > Delegate Access (signed in as {mailbox}), or have the Exchange admin "
        f"grant it with Add-MailboxFolderPermission -Identity {mailbox}:\\Calendar "
        f"-User {ctx.username} -AccessRights {role}."
    )


# EWS response codes by the connector error they mean.
_ACCESS = (
    ews.ErrorAccessDenied,
    ews.ErrorImpersonateUserDenied,
    ews.ErrorImpersonationDenied,
    ews.ErrorImpersonationFailed,
    ews.ErrorInvalidExchangeImpersonationHeaderData,
    ews.ErrorCreateItemAccessDenied,
    ews.ErrorNotDelegate,
    ews.ErrorMailboxLogonFailed,
    # A mailbox's Calendar always exists: not finding it means not being allowed to see it.
    ews.ErrorFolderNotFound,
)
_MAILBOX = (
    ews.ErrorNonExistentMailbox,
    ews.ErrorInvalidSmtpAddress,
    ews.ErrorNameResolutionNoMailbox,
    ews.ErrorInvalidMailbox,
    ews.ErrorNoCalendar,
)
_CONFLICT = (
    ews.ErrorIrresolvableConflict,
    ews.ErrorInvalidChangeKey,
    ews.ErrorChangeKeyRequiredForWriteOperations,
)
_NOT_FOUND = (ews.ErrorItemNotFound, ews.ErrorCalendarCannotUpdateDeletedItem)
_TRANSIENT = (
    ews.ErrorInternalServerTransientError,
    ews.ErrorTooManyObjectsOpened,
    ews.ErrorMailboxStoreUnavailable,
    ews.ErrorMailboxMoveInProgress,
    ews.ErrorMailboxFailover,
    ews.ErrorConnectionFailed,
    ews.ErrorConnectionFailedTransientError,
    ews.ErrorExceededConnectionCount,
    ews.ErrorInternalServerError,
    ews.ErrorProxyCallFailed,
    ews.ErrorBatchProcessingStopped,
)
_VERSION = (
    ews.ErrorInvalidServerVersion,
    ews.ErrorIncorrectSchemaVersion,
    ews.ErrorInvalidSchemaVersionForMailboxVersion,
)
_STATUS = re.compile(r"Code: (\d{3})")


def _connection_failure(exc: BaseException, ctx: Context) -> Failure | None:
    if bad_url(exc):
        return Failure("permanent", _not_ews(ctx, "its host or port cannot be parsed"))
    if tls_failed(exc) or (
        isinstance(exc, ews.TransportError)
        and not isinstance(exc, ews.ResponseMessageError)
        and re.search(r"SSL|CERTIFICATE|certificate", str(exc))
    ):
        return Failure(
            "permanent",
            TlsError(
                f"The TLS certificate of {ctx.endpoint} could not be verified.",
                "Install a certificate the server's clients trust, or set the service's CA bundle "
                "to the certificate of the issuing CA (never turn verification off in production).",
            ),
        )
    if never_sent(exc):
        return Failure(
            "transient",
            ServiceUnreachable(
                f"Cannot connect to {ctx.endpoint} (service {ctx.service}).",
                "Check the endpoint's host name and port, and that the server is up and "
                "reachable from the machine running trainer-sync (DNS, firewall, proxy).",
            ),
            repeatable=True,
        )
    if connection_broke(exc) or (
        isinstance(exc, ews.ErrorTimeoutExpired) and str(exc).startswith("Reraised from")
    ):
        return Failure(
            "transient",
            ServiceUnavailable(
                f"The connection to {ctx.endpoint} broke or timed out before Exchange answered.",
                "Usually passes by itself; if it persists, check the server's load and the "
                "service's read timeout.",
            ),
            repeatable=False,
        )
    return None


def classify(exc: BaseException, ctx: Context) -> Failure:
    """Classify a request-level failure; unknown exceptions are re-raised unchanged."""
    if isinstance(exc, ExchangeError):
        return Failure("permanent", exc)
    if isinstance(exc, ews.ErrorServerBusy):
        return Failure(
            "busy",
            ServerBusy(f"Exchange is throttling {ctx.username} at {ctx.endpoint}."),
            back_off=exc.back_off,
        )
    if isinstance(
        exc,
        (
            ews.UnauthorizedError,
            oauth_errors.InvalidClientError,
            oauth_errors.UnauthorizedClientError,
            oauth_errors.InvalidGrantError,
            oauth_errors.AccessDeniedError,
            oauth_errors.InvalidClientIdError,
        ),
    ):
        how = (
            "the token endpoint refused the application's client credentials"
            if isinstance(exc, oauth_errors.OAuth2Error)
            else "HTTP 401"
        )
        return Failure(
            "permanent",
            AuthenticationFailed(
                f"Exchange rejected the credentials of {ctx.username} for service {ctx.service} "
                f"({how}).",
                f"Check the username and the secret behind {ctx.secret_ref}; a locked-out or "
                "expired account, or an expired client secret, fails the same way.",
            ),
        )
    if isinstance(exc, oauth_errors.TokenExpiredError):
        # exchangelib has already renewed the session's token: simply send again.
        return Failure(
            "transient", ServiceUnavailable("The OAuth2 access token expired."), repeatable=True
        )
    if isinstance(exc, oauth_errors.InsecureTransportError):
        return Failure(
            "permanent",
            EndpointNotFound(
                "The OAuth2 token endpoint is not HTTPS.",
                "Use an https:// authority host for OAuth2.",
            ),
        )
    if isinstance(exc, oauth_errors.OAuth2Error):
        return Failure(
            "permanent",
            AuthenticationFailed(
                f"The OAuth2 token request for service {ctx.service} failed "
                f"({exc.error or type(exc).__name__}).",
                "Check tenant_id, client_id, the authority host and the client secret.",
            ),
        )
    connection = _connection_failure(exc, ctx)
    if connection is not None:
        return connection
    if isinstance(exc, ews.CASError):
        return Failure(
            "transient", ServiceUnavailable(f"{ctx.endpoint} failed transiently ({exc.cas_error}).")
        )
    if isinstance(exc, ews.ResponseMessageError):
        return Failure(*_response_error(exc, ctx))
    if isinstance(exc, ews.RedirectError):
        return Failure("permanent", _not_ews(ctx, f"it redirects to {exc.url}"))
    if isinstance(exc, ews.MalformedResponseError):
        m = _STATUS.search(str(exc))
        status = int(m.group(1)) if m else None
        if status is not None and status >= 500:
            return Failure(
                "transient",
                ServiceUnavailable(f"{ctx.endpoint} answered HTTP {status}."),
                repeatable=status == 503,
            )
        if status == 403:
            return Failure(
                "permanent",
                AccessDenied(
                    f"{ctx.endpoint} refused {ctx.username} with HTTP 403.",
                    "Ask the Exchange admin to allow EWS for the master account "
                    "(Set-CASMailbox -EWSEnabled $true, EWS application policies).",
                ),
            )
        detail = f"it answered HTTP {status}" if status else "its answer is not EWS"
        return Failure("permanent", _not_ews(ctx, detail))
    if isinstance(exc, ews.SOAPError | ews.TransportError):
        return Failure("permanent", _not_ews(ctx, "its answer is not an EWS SOAP response"))
    raise exc


def _not_ews(ctx: Context, detail: str) -> EndpointNotFound:
    return EndpointNotFound(
        f"{ctx.endpoint} is not an EWS endpoint: {detail}.",
        "Use the full EWS URL, usually https://<mail server>/EWS/Exchange.asmx.",
    )


def _response_error(
    exc: ews.ResponseMessageError, ctx: Context
) -> tuple[FailureKind, ExchangeError]:
    """(kind, error) for an EWS response code."""
    mailbox = ctx.mailbox or ctx.username
    if isinstance(exc, _TRANSIENT) or (
        isinstance(exc, ews.ErrorTimeoutExpired) and not str(exc).startswith("Reraised")
    ):
        return "transient", ServiceUnavailable(
            f"Exchange at {ctx.endpoint} failed transiently for {mailbox}: {exc} "
            f"({type(exc).__name__}).",
            "Usually passes by itself; the sync is retried on the next run.",
        )
    if isinstance(exc, _ACCESS):
        return "permanent", AccessDenied(
            f"The master account {ctx.username} may not access the calendar of {mailbox} "
            f"({type(exc).__name__}).",
            grant_instruction(ctx, mailbox),
        )
    if isinstance(exc, _MAILBOX):
        return "permanent", MailboxNotFound(
            f"The mailbox {mailbox} does not exist on {ctx.endpoint}.",
            "Check the trainer's mailbox address (a typo, a renamed or removed account); change "
            "it with `trainer-sync trainer set EMAIL --mailbox ADDRESS`.",
        )
    if isinstance(exc, _VERSION):
        return "permanent", EndpointNotFound(
            f"{ctx.endpoint} does not accept the pinned Exchange version ({type(exc).__name__}).",
            "Correct the service's version with `trainer-sync service set NAME --server-version "
            "15.2`, or clear it with `--server-version ''` to let the connector detect it.",
        )
    if isinstance(exc, _NOT_FOUND):
        return "permanent", ItemNotFound(f"The item no longer exists in {mailbox}.")
    if isinstance(exc, _CONFLICT):
        return "permanent", Conflict(f"The item in {mailbox} changed since it was read.")
    return "permanent", InvalidItem(
        f"Exchange refused the request for {mailbox}: {type(exc).__name__}: {exc}"
    )


def item_error(exc: BaseException, ctx: Context) -> ExchangeError:
    """The connector error for a per-item failure inside a batch answer."""
    if isinstance(exc, ews.ResponseMessageError):
        return _response_error(exc, ctx)[1]
    return InvalidItem(f"Exchange refused the item: {type(exc).__name__}: {exc}")
