"""The EWS backend of the Exchange connector (exchangelib 5.6).

Request budget (see the module docs of ews_ops for how each request is built):

- `changed_since` on an untouched calendar: 1 SyncFolderItems. More only when changes exceed
  512 per page (the cursor is always drained to the end so the next check is idle again).
- `read_window` of N items: 1 FindItem CalendarView (IdOnly) per 1,000 items in view (a
  truncated view is split in half and re-read), plus ceil(N/100) GetItem.
- `apply` of N actions: ceil(N/100) requests per kind (delete per mode, update, create).
- `check_access`: 1 GetFolder(calendar, EffectiveRights). `verify_service`: 1 request.

Every request waits at the account's throttling gate and is retried per `RetryPolicy`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

from exchangelib import Account
from exchangelib import errors as ews

from connectors.exchange import ews_ops as ops
from connectors.exchange.access import NEEDED_RIGHTS, access_result, refused_before_asking
from connectors.exchange.base import (
    AccessProblem,
    AccessResult,
    ActionResult,
    ChangeCheck,
    ExchangeAction,
    ExchangeRow,
    RequestStats,
    VerificationResult,
    check_window,
    in_window,
    is_engine_write,
)
from connectors.exchange.config import ServiceConfig
from connectors.exchange.errors import (
    AccessDenied,
    ExchangeError,
    ItemNotFound,
    MailboxNotFound,
    ServerBusy,
)
from connectors.exchange.ews_errors import Context, classify, grant_instruction, item_error
from connectors.exchange.ews_transport import AccountPool, build_protocol
from connectors.exchange.retry import (
    RefusedForNow,
    RetryPolicy,
    gate_for,
    repeat_while_refused,
    run_with_retry,
)
from connectors.exchange.writes import WRITE_ORDER, Outcomes, check_action, write_kind

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_VIEW_SPAN = dt.timedelta(days=730)  # Exchange refuses longer CalendarView ranges
MIN_VIEW_SPAN = dt.timedelta(minutes=1)  # below this, a truncated view cannot be split further
MAX_SYNC_PAGES = 1000
# What one write request carries per item: an item id (delete), an item and the fields to set
# (update), or an item (create).
Prepared = Any


def _chunks(seq: Sequence[T], size: int) -> list[Sequence[T]]:
    return [seq[i : i + size] for i in range(0, len(seq), size)]


class EwsConnector:
    """`ExchangeConnector` over EWS for one service (master account)."""

    def __init__(
        self,
        config: ServiceConfig,
        secret: str,
        *,
        retry_policy: RetryPolicy | None = None,
        view_max_entries: int = 1000,
    ) -> None:
        self.config = config
        self.retry_policy = retry_policy or RetryPolicy()
        self.view_max_entries = view_max_entries
        self.stats = RequestStats()
        self._protocol = build_protocol(config, secret)
        self._accounts = AccountPool(self._protocol, config.access_type)
        self._gate = gate_for(config.endpoint, config.username, self.retry_policy.clock)
        self._ctx = Context(
            service=config.name,
            endpoint=config.endpoint,
            username=config.username,
            access_type=config.access_type,
            secret_ref=config.secret_ref,
            auth_type=config.auth_type,
            client_id=config.client_id,
        )

    # -- plumbing -------------------------------------------------------------------------

    def _call(
        self,
        op: Callable[[], T],
        *,
        mailbox: str | None = None,
        idempotent: bool = True,
        policy: RetryPolicy | None = None,
    ) -> T:
        ctx = replace(self._ctx, mailbox=mailbox)
        return run_with_retry(
            op,
            gate=self._gate,
            classify=lambda exc: classify(exc, ctx),
            policy=policy or self.retry_policy,
            idempotent=idempotent,
            on_back_off=self.stats.backed_off,
        )

    def close(self) -> None:
        """Close the service's HTTP sessions."""
        self._accounts.close()

    # -- verification ---------------------------------------------------------------------

    def verify_service(self) -> VerificationResult:
        """Sign in with the master account: one request, no retries beyond throttling."""
        cfg = self.config
        policy = replace(self.retry_policy, max_attempts=1, max_elapsed=30.0)
        own = cfg.username if "@" in cfg.username else None
        note = ""
        try:
            if own:
                account = self._accounts.get(own, access_type=self._own_access_type())
                self._call(
                    lambda: ops.calendar_rights(account, own, self.stats),
                    mailbox=own,
                    policy=policy,
                )
            else:
                self._call(
                    lambda: ops.resolve_name(self._protocol, cfg.username, self.stats),
                    policy=policy,
                )
        except (MailboxNotFound, AccessDenied) as exc:
            if cfg.auth_type == "oauth2":
                return self._failed(exc)
            # The login worked and EWS answered; the master account just has no calendar to show.
            note = f" (its own calendar is not available: {type(exc).__name__})"
        except ExchangeError as exc:
            return self._failed(exc)
        version = self._protocol.config.version
        return VerificationResult(
            ok=True,
            service=cfg.name,
            message=f"Signed in to {cfg.endpoint} as {cfg.username}{note}.",
            server_version=str(version.build) if version and version.build else None,
        )

    def _own_access_type(self) -> str:
        # Application (OAuth2) identities always act through impersonation; a user account
        # reads its own calendar directly.
        return "impersonation" if self.config.auth_type == "oauth2" else "delegate"

    def _failed(self, exc: ExchangeError) -> VerificationResult:
        return VerificationResult(
            ok=False,
            service=self.config.name,
            message=exc.message,
            hint=exc.hint,
            error=type(exc).__name__,
        )

    # -- permissions ----------------------------------------------------------------------

    def check_access(self, mailbox: str, direction: str) -> AccessResult:
        """Domain, existence and calendar rights for one trainer; problems are returned."""
        cfg = self.config
        refused = refused_before_asking(
            mailbox,
            direction,
            account=f"master account {cfg.username}",
            account_domain=cfg.master_domain,
            domain_owner="the master account's",
        )
        if refused is not None:
            return refused
        role = "Reviewer" if direction == "in" else "Editor"
        ctx = replace(self._ctx, mailbox=mailbox)
        account = self._accounts.get(mailbox)
        try:
            rights = self._call(
                lambda: ops.calendar_rights(account, mailbox, self.stats), mailbox=mailbox
            )
        except MailboxNotFound as exc:
            return access_result(mailbox, direction, AccessProblem("mailbox_not_found", str(exc)))
        except AccessDenied as exc:
            return access_result(
                mailbox,
                direction,
                AccessProblem(
                    "no_access",
                    f"{exc.message} {grant_instruction(ctx, mailbox, role)}",
                ),
            )
        granted = tuple(r for r, ok in rights.items() if ok)
        missing = [r for r in NEEDED_RIGHTS[direction] if not rights[r]]
        if missing:
            return access_result(
                mailbox,
                direction,
                AccessProblem(
                    "insufficient_rights",
                    f"The master account {cfg.username} lacks {', '.join(missing)} on the Calendar "
                    f"of {mailbox} (it has: {', '.join(granted) or 'nothing'}); direction "
                    f"'{direction}' needs {', '.join(NEEDED_RIGHTS[direction])}. "
                    + grant_instruction(ctx, mailbox, role),
                ),
                rights=granted,
            )
        return access_result(mailbox, direction, rights=granted)

    # -- reads ----------------------------------------------------------------------------

    def read_window(self, mailbox: str, start: dt.datetime, end: dt.datetime) -> list[ExchangeRow]:
        """Items overlapping [start, end), occurrences expanded, in start order.

        Ids come first (CalendarView IdOnly, split when truncated), then full reads (GetItem,
        100 a call).
        """
        check_window(start, end)
        account = self._accounts.get(mailbox)
        ids = self._view_ids(account, mailbox, start, end)
        rows: dict[str, ExchangeRow] = {}
        ctx = replace(self._ctx, mailbox=mailbox)
        for chunk in _chunks(list(ids), ops.BATCH_SIZE):
            got = self._call(
                partial(_raise_busy_item, ops.get_rows, account, chunk, self.stats),
                mailbox=mailbox,
            )
            if len(got) != len(chunk):
                raise ExchangeError(f"GetItem answered {len(got)} items for {len(chunk)} ids.")
            for item_id, value in zip(chunk, got, strict=True):
                if isinstance(value, Exception):
                    err = item_error(value, ctx)
                    if isinstance(err, ItemNotFound):
                        continue  # deleted between the view and the read
                    raise err from value
                rows[item_id] = value
        # Exchange's view also holds items that end exactly at its start; the window is
        # half-open, [start, end), so they are not in it (a zero-length one at start is).
        return [rows[i] for i in ids if i in rows and in_window(rows[i], start)]

    def _view_ids(
        self, account: Account, mailbox: str, start: dt.datetime, end: dt.datetime
    ) -> dict[str, str]:
        """Ids + change keys of every item in view; truncated views are split, never dropped."""
        spans: list[tuple[dt.datetime, dt.datetime]] = []
        cur = start
        while cur < end:
            spans.append((cur, min(end, cur + MAX_VIEW_SPAN)))
            cur = spans[-1][1]
        stack = list(reversed(spans))
        out: dict[str, str] = {}
        while stack:
            s, e = stack.pop()
            page = self._call(
                partial(
                    ops.calendar_view_ids, account, mailbox, s, e, self.view_max_entries, self.stats
                ),
                mailbox=mailbox,
            )
            if not page.complete:
                if e - s <= MIN_VIEW_SPAN:
                    raise ExchangeError(
                        f"More than {self.view_max_entries} calendar items of {mailbox} fall "
                        f"between {s:%Y-%m-%d %H:%M} and {e:%H:%M} UTC; the view cannot be split "
                        "further.",
                        "Clean up the calendar (a runaway recurring series?).",
                    )
                mid = s + (e - s) / 2
                stack.extend([(mid, e), (s, mid)])
                continue
            for item_id, change_key in page.items:
                out.setdefault(item_id, change_key)
        return out

    # -- change gate ----------------------------------------------------------------------

    def changed_since(
        self,
        mailbox: str,
        cursor: str | None,
        engine_writes: Mapping[str, str | None] | None = None,
        window: tuple[dt.datetime, dt.datetime] | None = None,
    ) -> ChangeCheck:
        """SyncFolderItems from `cursor` to the end; an untouched calendar costs one request.

        No cursor, or one Exchange no longer accepts, counts as changed (with a fresh cursor).
        SyncFolderItems sees the whole calendar, so `window` plays no part.
        """
        account = self._accounts.get(mailbox)
        writes = engine_writes or {}
        state = cursor or None
        changed = state is None
        for _ in range(MAX_SYNC_PAGES):
            try:
                page = self._call(
                    partial(ops.sync_page, account, mailbox, state, self.stats), mailbox=mailbox
                )
            except ops.SyncStateRejected:
                log.info("sync state of %s no longer valid; starting over", mailbox)
                state, changed = None, True
                continue
            if not changed:
                changed = any(
                    not is_engine_write(writes, i, ck, removed=kind == "delete")
                    for kind, i, ck in page.changes
                )
            state = page.state
            if page.complete:
                return ChangeCheck(changed=changed, cursor=state)
        raise ExchangeError(f"The calendar of {mailbox} reports changes without end.")

    # -- writes ---------------------------------------------------------------------------

    def apply(self, mailbox: str, actions: Sequence[ExchangeAction]) -> list[ActionResult]:
        """Deletes, then updates, then creates, 100 items a request; one result per action.

        A refused item fails alone. A failure of a whole request (after retries) fails its
        items and the ones not yet sent, with that error's class name.
        """
        account = self._accounts.get(mailbox)
        outcomes = Outcomes(actions)
        groups: dict[tuple[str, str], list[tuple[int, Prepared]]] = {}
        for index, action in enumerate(actions):
            try:
                prepared = self._prepare(account, action)
            except (ValueError, TypeError, KeyError, ews.EWSError) as exc:
                outcomes.invalid(index, exc)
                continue
            groups.setdefault(write_kind(action), []).append((index, prepared))
        aborted: ExchangeError | None = None
        for kind in WRITE_ORDER:
            for chunk in _chunks(groups.get(kind, []), ops.BATCH_SIZE):
                if aborted is None:
                    try:
                        self._write(kind, account, mailbox, chunk, outcomes)
                    except ExchangeError as exc:
                        aborted = exc
                if aborted is not None:
                    outcomes.fail_unanswered((index for index, _ in chunk), aborted)
        return outcomes.all("Exchange")

    def _prepare(self, account: Account, action: ExchangeAction) -> Prepared:
        check_action(action)
        if action.action == "delete":
            return action.item_id
        item = ops.calendar_item(account, action)
        if action.action == "create":
            return item
        fieldnames = ops.update_fieldnames(action)
        for name in fieldnames:  # validate here, so a bad value fails alone, not its batch
            item.get_field_by_fieldname(name).clean(getattr(item, name), version=account.version)
        return item, fieldnames

    def _write(
        self,
        kind: tuple[str, str],
        account: Account,
        mailbox: str,
        chunk: Sequence[tuple[int, Prepared]],
        outcomes: Outcomes,
    ) -> None:
        """One request for the chunk; items refused as busy are sent again, alone, once the
        account's gate opens, while the time budget lasts."""
        action, mode = kind
        ctx = replace(self._ctx, mailbox=mailbox)
        pending = list(chunk)

        def send_pending() -> None:
            nonlocal pending
            answers = self._call(
                partial(self._send, action, mode, account, mailbox, [p for _, p in pending]),
                mailbox=mailbox,
                idempotent=action != "create",
            )
            if len(answers) != len(pending):
                raise ExchangeError(
                    f"Exchange answered {len(answers)} results for {len(pending)} items."
                )
            busy, back_off = [], 0.0
            for (index, prepared), answer in zip(pending, answers, strict=True):
                if isinstance(answer, ews.ErrorServerBusy | ews.ErrorBatchProcessingStopped):
                    busy.append((index, prepared))
                    back_off = max(back_off, getattr(answer, "back_off", None) or 0.0)
                else:
                    outcomes.set(index, _result(action, outcomes.actions[index], answer, ctx))
            pending = busy
            if busy:
                self._gate.hold(back_off or self.retry_policy.default_busy_backoff)
                self.stats.backed_off()
                raise RefusedForNow

        repeat_while_refused(
            send_pending,
            gate=self._gate,
            policy=self.retry_policy,
            give_up=lambda: ServerBusy(
                f"Exchange kept throttling writes to {mailbox}.",
                "Retry later; lower the parallelism of this service if it persists.",
            ),
        )

    def _send(
        self, action: str, mode: str, account: Account, mailbox: str, payload: list[Prepared]
    ) -> list[Any]:
        if action == "delete":
            return ops.delete_items(account, payload, ops.DELETE_TYPES[mode], self.stats)
        if action == "update":
            return ops.update_items(account, payload, self.stats)
        return ops.create_items(account, mailbox, payload, self.stats)


def _raise_busy_item(read: Callable[..., list[T]], *args: Any) -> list[T]:
    """A read whose answer holds a per-item throttling refusal raises it, so the whole
    (idempotent) read is retried at the account's gate."""
    values = read(*args)
    for value in values:
        if isinstance(value, ews.ErrorServerBusy):
            raise value
    return values


def _result(kind: str, action: ExchangeAction, answer: Any, ctx: Context) -> ActionResult:
    if isinstance(answer, Exception):
        err = item_error(answer, ctx)
        if kind == "delete" and isinstance(err, ItemNotFound):
            return ActionResult(ok=True, item_id=action.item_id, message="already deleted")
        return ActionResult(
            ok=False, item_id=action.item_id, error=type(err).__name__, message=str(err)
        )
    if kind == "delete":
        return ActionResult(ok=True, item_id=action.item_id)
    item_id, change_key = answer
    return ActionResult(ok=True, item_id=item_id or action.item_id, change_key=change_key)
