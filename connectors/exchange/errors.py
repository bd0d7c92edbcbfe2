"""Exchange failures, classified so callers can tell what to fix and what to retry.

Every class is a `TrainerSyncError` with an admin-facing `message` (what went wrong, naming
the service or mailbox) and `hint` (what to do). Messages never contain a secret.

Permanent failures (wrong password, missing right, unknown mailbox, bad endpoint, TLS) are
raised at once and never retried. Transient ones (throttling, 5xx, resets, timeouts) are
retried by the connector with back-off; when that budget is spent they surface as a
`TransientExchangeError`, and `is_transient(exc)` lets the orchestration's retry condition
decide to try the whole task again later.
"""

from __future__ import annotations

from sync_rules.errors import TrainerSyncError


class ExchangeError(TrainerSyncError):
    """Base of every Exchange connector failure."""


# --- permanent -------------------------------------------------------------------------------


class AuthenticationFailed(ExchangeError):
    """The master account's credentials were rejected (HTTP 401, bad client secret, locked out)."""


class AccessDenied(ExchangeError):
    """The master account lacks a right it needs on a mailbox (delegate or impersonation)."""


class MailboxNotFound(ExchangeError):
    """The mailbox address does not exist on the Exchange server."""


class ItemNotFound(ExchangeError):
    """The calendar item no longer exists (deleted in Outlook, or a stale id)."""


class Conflict(ExchangeError):
    """The item changed since it was read (its change key moved), so the write was refused."""


class InvalidItem(ExchangeError):
    """Exchange refused the item's content (a bad value, a schema violation, a refused save)."""


class TlsError(ExchangeError):
    """The server's TLS certificate could not be verified."""


class EndpointNotFound(ExchangeError):
    """The endpoint answered, but not as an EWS service (404, an HTML page, a redirect)."""


# --- transient -------------------------------------------------------------------------------


class TransientExchangeError(ExchangeError):
    """A failure that may pass by itself: retry the operation later."""


class ServiceUnreachable(TransientExchangeError):
    """No connection could be made (DNS, refused, connect timeout)."""


class ServiceUnavailable(TransientExchangeError):
    """The server failed transiently (5xx, reset, read timeout) beyond the retry budget."""


class ServerBusy(TransientExchangeError):
    """Exchange kept throttling the account (ErrorServerBusy) beyond the retry budget."""


def is_transient(exc: BaseException) -> bool:
    """True when `exc` is worth retrying later (use it in a task's `retry_condition_fn`)."""
    return isinstance(exc, TransientExchangeError)
