"""The Microsoft Graph backend of the Exchange connector (Exchange Online).

Request budget (Graph requests; the token is fetched by msal once and cached until expiry):

- `changed_since` on an untouched calendar: 1 GET of the stored `@odata.deltaLink`
  (calendarView/delta). More only when changes span several pages. A first call, an expired
  delta token (410) or a window that drifted costs one initial delta round (a page per 100
  items in the window) and reports `changed=True`.
- `read_window` of N items: ceil(N/page_size) GET calendarView (page_size 500 by default),
  fields and tag in the same answer.
- `apply` of N actions: ceil(N/20) POST $batch (plus a resend of what Graph did not run: a
  request throttled inside the batch, and those chained after a refused one).
- `verify_service`: 1 GET of the service username's calendar. `check_access`: 1 GET of the
  trainer's calendar, + 1 write probe (DELETE of a non-existent id) for `out`/`both` unless the
  token shows tenant-wide Calendars.ReadWrite, + 1 GET of the service's own calendar to explain
  a refusal when no mailbox has opened yet.

Every request waits at its mailbox's throttling gate (closed by 429 + Retry-After for the whole
mailbox, across threads and connectors of the process) and holds one of the mailbox's 4
concurrency slots. Errors map onto `connectors.exchange.errors`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar
from urllib.parse import quote

from connectors.exchange import graph_ops as ops
from connectors.exchange.base import (
    ACTIONS,
    DELETE_MODES,
    DIRECTIONS,
    UPDATABLE_FIELDS,
    AccessProblem,
    AccessResult,
    ActionResult,
    ChangeCheck,
    ExchangeAction,
    ExchangeRow,
    KnownItem,
    RequestStats,
    VerificationResult,
)
from connectors.exchange.config import ServiceConfig
from connectors.exchange.errors import (
    AccessDenied,
    ExchangeError,
    InvalidItem,
    ItemNotFound,
    MailboxNotFound,
    ServerBusy,
)
from connectors.exchange.graph_errors import (
    Context,
    classify,
    item_failure,
    no_permission_error,
    read_only_error,
    scope_error,
    tenant_wide_write,
)
from connectors.exchange.graph_transport import PREFER, GraphClient, GraphHttpError, retry_after_of
from connectors.exchange.retry import AccountGate, RetryPolicy, gate_for, run_with_retry

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH_SIZE = 20  # Graph's JSON batching limit
DELTA_PAGE = 100
MAX_PAGES = 10_000
NEEDED_RIGHTS = {
    "in": ("read",),
    "out": ("read", "create", "modify", "delete"),
    "both": ("read", "create", "modify", "delete"),
}
CURSOR_VERSION = "graph-delta-1"
WRITE_PROBE_ID = "AAMkAGFjY2Vzcy1wcm9iZS1vZi10cmFpbmVyLXN5bmM"  # no item has this id


class StaleCursor(Exception):
    """The delta token is no longer accepted (410 Gone / SyncStateNotFound, or malformed)."""


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GraphConnector:
    """`ExchangeConnector` over Microsoft Graph v1.0 for one service (an app registration)."""

    def __init__(
        self,
        config: ServiceConfig,
        secret: str,
        *,
        retry_policy: RetryPolicy | None = None,
        page_size: int = 500,
        window_past_days: int = 7,
        window_future_days: int = 365,
        window_slack: dt.timedelta = dt.timedelta(days=1),
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.config = config
        self.retry_policy = retry_policy or RetryPolicy()
        self.page_size = page_size
        self.window_past = dt.timedelta(days=window_past_days)
        self.window_future = dt.timedelta(days=window_future_days)
        self.window_slack = window_slack
        self._clock = clock
        self.stats = RequestStats()
        self.client = GraphClient(config, secret, self.stats)
        self._roles: tuple[str, ...] | None = None
        self._opened: set[str] = set()  # mailboxes whose calendar opened (tells scope problems)
        self._lock = threading.Lock()
        self._ctx = Context(
            service=config.name,
            endpoint=config.endpoint,
            authority=self.client.tokens.authority,
            tenant_id=config.tenant_id or "",
            client_id=config.client_id or "",
            secret_ref=config.secret_ref,
        )

    # -- plumbing -------------------------------------------------------------------------

    def _gate(self, mailbox: str | None) -> AccountGate:
        """Graph throttles per app and mailbox: one gate per (endpoint + app, mailbox)."""
        cfg = self.config
        return gate_for(f"{cfg.endpoint}#{cfg.tenant_id}/{cfg.client_id}", mailbox or "")

    def _context(self, mailbox: str | None) -> Context:
        return replace(self._ctx, mailbox=mailbox, roles=self._roles)

    def _call(
        self,
        op: Callable[[], T],
        *,
        mailbox: str | None,
        idempotent: bool = True,
        policy: RetryPolicy | None = None,
    ) -> T:
        return run_with_retry(
            op,
            gate=self._gate(mailbox),
            classify=lambda exc: classify(exc, self._context(mailbox)),
            policy=policy or self.retry_policy,
            idempotent=idempotent,
        )

    def _request(self, method: str, path: str, *, mailbox: str | None, operation: str, **kw):
        self._roles = self.client.tokens.get().roles
        return self.client.request(method, path, mailbox=mailbox, operation=operation, **kw)

    def close(self) -> None:
        """Close the service's HTTP session."""
        self.client.close()

    @staticmethod
    def _user(mailbox: str) -> str:
        return f"/users/{quote(mailbox, safe='@')}"

    # -- verification ---------------------------------------------------------------------

    def verify_service(self) -> VerificationResult:
        """Get a token and read the calendar of the service's username: one Graph request."""
        cfg = self.config
        policy = replace(self.retry_policy, max_attempts=1, max_elapsed=30.0)
        try:
            try:
                self._read_calendar(cfg.username, policy)
            except AccessDenied as exc:
                raise no_permission_error(self._context(cfg.username), cfg.username) from exc
        except ExchangeError as exc:
            return VerificationResult(
                ok=False,
                service=cfg.name,
                message=exc.message,
                hint=exc.hint,
                error=type(exc).__name__,
            )
        note = ""
        if tenant_wide_write(self._roles):
            note = (
                " The app holds Calendars.ReadWrite for every mailbox (admin consent in Entra "
                "ID): an RBAC for Applications scope does not narrow that grant."
            )
        return VerificationResult(
            ok=True,
            service=cfg.name,
            message=(
                f"Signed in to {cfg.endpoint} as app {cfg.client_id} of tenant {cfg.tenant_id}; "
                f"the calendar of {cfg.username} is readable.{note}"
            ),
            server_version="graph-v1.0",
        )

    def _read_calendar(self, mailbox: str, policy: RetryPolicy | None = None) -> dict[str, Any]:
        calendar = self._call(
            lambda: self._request(
                "GET",
                self._user(mailbox) + "/calendar",
                mailbox=mailbox,
                operation="calendar.get",
                params={"$select": "id,name,canEdit"},
            ),
            mailbox=mailbox,
            policy=policy,
        )
        with self._lock:
            self._opened.add(mailbox.lower())
        return calendar

    # -- permissions ----------------------------------------------------------------------

    def check_access(self, mailbox: str, direction: str) -> AccessResult:
        """Domain, existence and rights for one trainer; problems are returned.

        1 GET of the calendar (existence, scope, read). For `out`/`both`, write permission is
        known from the token only when Calendars.ReadWrite was consented tenant-wide; grants
        through RBAC for Applications are not in the token, so one harmless write probe (a
        DELETE of an id that does not exist) tells Calendars.ReadWrite from Calendars.Read.
        A refused mailbox is compared with one that opens (the service's own) to tell "outside
        the scope" from "no permission at all".
        """
        cfg = self.config

        def result(*problems: AccessProblem, rights: tuple[str, ...] = ()) -> AccessResult:
            return AccessResult(mailbox, direction, not problems, tuple(problems), rights)

        if direction not in DIRECTIONS:
            return result(
                AccessProblem(
                    "invalid_direction", f"Direction {direction!r} is not one of in, out, both."
                )
            )
        local, at, domain = mailbox.rpartition("@")
        if not at or not local or not domain:
            return result(
                AccessProblem("invalid_address", f"{mailbox!r} is not a mailbox address.")
            )
        master = cfg.master_domain
        if master and domain.lower() != master:
            return result(
                AccessProblem(
                    "domain_mismatch",
                    f"The mailbox {mailbox} is in domain {domain.lower()}, but the service's "
                    f"account {cfg.username} is in domain {master}; trainers' mailboxes must be "
                    "in the service's domain. Correct the address or use a service of that domain.",
                )
            )
        try:
            self._read_calendar(mailbox)
        except MailboxNotFound as exc:
            return result(AccessProblem("mailbox_not_found", str(exc)))
        except AccessDenied:
            return result(AccessProblem("no_access", str(self._why_denied(mailbox))))
        if direction == "in":
            return result(rights=("read",))
        if tenant_wide_write(self._roles) or self._may_write(mailbox):
            return result(rights=("read", "create", "modify", "delete"))
        return result(
            AccessProblem(
                "insufficient_rights",
                f"Direction '{direction}' needs {', '.join(NEEDED_RIGHTS[direction])} on the "
                f"calendar of {mailbox}; the app has read only. "
                + str(read_only_error(self._context(mailbox), mailbox)),
            ),
            rights=("read",),
        )

    def _why_denied(self, mailbox: str) -> AccessDenied:
        """Scope or no permission at all: compare with a mailbox the app has opened (or the
        service's own one, read once for this)."""
        ctx = self._context(mailbox)
        with self._lock:
            opened = bool(self._opened - {mailbox.lower()})
        own = self.config.username
        if not opened and own.lower() != mailbox.lower():
            try:
                self._read_calendar(own)
                opened = True
            except ExchangeError:
                opened = False
        return scope_error(ctx, mailbox) if opened else no_permission_error(ctx, mailbox)

    def _may_write(self, mailbox: str) -> bool:
        """Probe write permission without changing anything: DELETE of an id that does not
        exist is refused with 403 before the item is looked up when the app may not write,
        and answered 404 (or 400 for the id) when it may."""
        try:
            self._call(
                lambda: self._request(
                    "DELETE",
                    f"{self._user(mailbox)}/events/{WRITE_PROBE_ID}",
                    mailbox=mailbox,
                    operation="events.delete",
                ),
                mailbox=mailbox,
            )
        except AccessDenied:
            return False
        except (ItemNotFound, InvalidItem):
            return True
        return True

    # -- reads ----------------------------------------------------------------------------

    def read_window(
        self,
        mailbox: str,
        start: dt.datetime,
        end: dt.datetime,
        known: Mapping[str, KnownItem] | None = None,
    ) -> list[ExchangeRow]:
        """Items overlapping [start, end), occurrences expanded, in start order.

        One calendarView request per `page_size` items returns fields and tag together, so
        `known` saves no request here (rows are always the fresh ones).
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("read_window needs timezone-aware start and end")
        if end <= start:
            raise ValueError("read_window needs start < end")
        path: str | None = self._user(mailbox) + "/calendarView"
        params: dict[str, str] | None = {
            "startDateTime": _iso(start),
            "endDateTime": _iso(end),
            "$select": ops.SELECT,
            "$expand": ops.EXPAND_TAG,
            "$top": str(self.page_size),
        }
        rows: dict[str, ExchangeRow] = {}
        for _ in range(MAX_PAGES):
            page = self._call(
                lambda p=path, q=params: self._request(
                    "GET", p, mailbox=mailbox, operation="calendarView", params=q
                ),
                mailbox=mailbox,
            )
            for event in page.get("value", []):
                if event.get("type") == "seriesMaster":
                    continue
                rows.setdefault(event["id"], ops.row_from_event(event))
            path, params = page.get("@odata.nextLink"), None
            if not path:
                return sorted(rows.values(), key=lambda r: (r.start, r.item_id))
        raise ExchangeError(f"The calendar view of {mailbox} pages without end.")

    # -- change gate ----------------------------------------------------------------------

    def changed_since(
        self,
        mailbox: str,
        cursor: str | None,
        own_changes: Mapping[str, str | None] | None = None,
    ) -> ChangeCheck:
        """GET the stored deltaLink: an untouched calendar costs one request.

        The cursor holds the deltaLink and the window it tracks (calendarView/delta is bound
        to the start/end of its first request). No cursor, an expired or invalid one, or a
        window that no longer covers [now - past, now + future] starts a new round over the
        current window and counts as changed.
        """
        state = _read_cursor(cursor)
        now = self._clock()
        if state is None or self._drifted(state, now):
            return self._initial(mailbox, now)
        own = own_changes or {}
        try:
            entries, link = self._drain(mailbox, state["link"], None)
        except StaleCursor:
            log.info("delta token of %s no longer valid; starting a new round", mailbox)
            return self._initial(mailbox, now)
        changed = any(not _is_own(e, own) for e in entries)
        return ChangeCheck(
            changed=changed, cursor=_write_cursor(state["start"], state["end"], link)
        )

    def _drifted(self, state: dict[str, Any], now: dt.datetime) -> bool:
        start = dt.datetime.fromisoformat(state["start"])
        end = dt.datetime.fromisoformat(state["end"])
        return start > now - self.window_past or end < now + self.window_future

    def _initial(self, mailbox: str, now: dt.datetime) -> ChangeCheck:
        start = now - self.window_past
        end = now + self.window_future + self.window_slack
        params = {"startDateTime": _iso(start), "endDateTime": _iso(end)}
        _, link = self._drain(mailbox, self._user(mailbox) + "/calendarView/delta", params)
        return ChangeCheck(changed=True, cursor=_write_cursor(_iso(start), _iso(end), link))

    def _drain(
        self, mailbox: str, url: str, params: dict[str, str] | None
    ) -> tuple[list[dict[str, Any]], str]:
        """Follow nextLinks to the deltaLink; returns the entries and the deltaLink."""
        entries: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            page = self._call(
                lambda u=url, q=params: self._delta_page(mailbox, u, q), mailbox=mailbox
            )
            entries.extend(page.get("value", []))
            if page.get("@odata.deltaLink"):
                return entries, page["@odata.deltaLink"]
            url, params = page.get("@odata.nextLink"), None
            if not url:
                raise StaleCursor("a delta page without nextLink or deltaLink")
        raise ExchangeError(f"The calendar of {mailbox} reports changes without end.")

    def _delta_page(self, mailbox: str, url: str, params: dict[str, str] | None) -> dict:
        try:
            return self._request(
                "GET",
                url,
                mailbox=mailbox,
                operation="calendarView.delta",
                params=params,
                headers={"Prefer": f"{PREFER}, odata.maxpagesize={DELTA_PAGE}"},
            )
        except GraphHttpError as exc:
            sync_code = "sync" in exc.code.lower() or "token" in exc.code.lower()
            if exc.status == 410 or (exc.status == 400 and sync_code):
                raise StaleCursor(exc.code) from exc
            raise

    # -- writes ---------------------------------------------------------------------------

    def apply(self, mailbox: str, actions: Sequence[ExchangeAction]) -> list[ActionResult]:
        """Deletes, then updates, then creates, 20 a `$batch`; one result per action, in order.

        Sub-requests of a batch are chained with `dependsOn`, so Graph runs them one after the
        other (several at once to one mailbox exceed its concurrency limit and are answered
        429). A refused item fails alone: the ones chained after it are answered 424 and sent
        again. A whole request that fails after retries fails its items and those not yet sent.
        """
        results: list[ActionResult | None] = [None] * len(actions)
        prepared: dict[int, dict[str, Any]] = {}
        for index, action in enumerate(actions):
            try:
                prepared[index] = self._prepare(mailbox, action)
            except (ValueError, TypeError, KeyError) as exc:
                results[index] = ActionResult(
                    ok=False,
                    item_id=action.item_id,
                    error="InvalidItem",
                    message=f"Action {action.action} for {action.entry_key} is invalid: {exc}",
                )
        rank = {("delete", m): i for i, m in enumerate(DELETE_MODES)}
        rank.update({("update", ""): 10, ("create", ""): 11})

        def order(i: int) -> int:
            a = actions[i]
            return rank[(a.action, a.delete_mode if a.action == "delete" else "")]

        pending = sorted(prepared, key=lambda i: (order(i), i))
        self._send_all(mailbox, pending, prepared, actions, results)
        if any(r is None for r in results):
            raise ExchangeError("Some actions got no result from Microsoft Graph.")
        return results  # type: ignore[return-value]

    def _prepare(self, mailbox: str, action: ExchangeAction) -> dict[str, Any]:
        if action.action not in ACTIONS:
            raise ValueError(f"unknown action {action.action!r}")
        if action.action == "delete":
            if not action.item_id:
                raise ValueError("delete needs item_id")
            if action.delete_mode not in DELETE_MODES:
                raise ValueError(f"unknown delete_mode {action.delete_mode!r}")
        elif action.action == "update":
            if not action.item_id or not action.change_key:
                raise ValueError("update needs item_id and the change key read with the item")
            unknown = set(action.changed_fields) - set(UPDATABLE_FIELDS)
            if unknown:
                raise ValueError(f"unknown changed_fields {sorted(unknown)}")
        return ops.subrequest(mailbox, action, PREFER)

    def _send_all(self, mailbox, pending, prepared, actions, results) -> None:
        policy = self.retry_policy
        started = time.monotonic()
        tries: dict[int, int] = {}
        aborted: ExchangeError | None = None
        while pending:
            chunk, pending = pending[:BATCH_SIZE], pending[BATCH_SIZE:]
            if aborted is None:
                try:
                    resend = self._batch(mailbox, chunk, prepared, actions, results, tries)
                except ExchangeError as exc:
                    aborted = exc
                    resend = []
                if resend and time.monotonic() - started > policy.max_elapsed:
                    aborted = ServerBusy(
                        f"Microsoft Graph kept refusing writes to {mailbox} for over "
                        f"{policy.max_elapsed:.0f} s.",
                        "Retry later; lower the parallelism of this service if it persists.",
                    )
                pending = resend + pending
            if aborted is not None:
                for index in chunk:
                    if results[index] is None:
                        results[index] = ActionResult(
                            ok=False,
                            item_id=actions[index].item_id,
                            error=type(aborted).__name__,
                            message=str(aborted),
                        )

    def _batch(self, mailbox, chunk, prepared, actions, results, tries) -> list[int]:
        """Send one $batch; record results; return the indexes to send again."""
        requests = []
        for n, index in enumerate(chunk):
            sub = {"id": str(index), **prepared[index]}
            if n:
                sub["dependsOn"] = [str(chunk[n - 1])]
            requests.append(sub)
        has_create = any(actions[i].action == "create" for i in chunk)
        answer = self._call(
            lambda: self._request(
                "POST",
                "/$batch",
                mailbox=mailbox,
                operation="$batch",
                json_body={"requests": requests},
            ),
            mailbox=mailbox,
            idempotent=not has_create,
        )
        by_id = {str(r.get("id")): r for r in (answer or {}).get("responses", [])}
        ctx = self._context(mailbox)
        resend: list[int] = []
        back_off = 0.0
        for index in chunk:
            response = by_id.get(str(index))
            if response is None:
                raise ExchangeError(f"Microsoft Graph answered no result for request {index}.")
            status = int(response.get("status", 500))
            body, headers = response.get("body"), response.get("headers") or {}
            action = actions[index]
            if status == 424:
                resend.append(index)  # not run: an earlier request of the chain failed
                continue
            if status in (429, 503) or (status >= 500 and action.action != "create"):
                tries[index] = tries.get(index, 0) + 1
                if status == 429 or tries[index] < self.retry_policy.max_attempts:
                    back_off = max(back_off, retry_after_of(headers) or 0.0)
                    if status == 429:
                        back_off = back_off or self.retry_policy.default_busy_backoff
                    resend.append(index)
                    continue
            results[index] = _result(action, status, body, headers, ctx)
        if back_off:
            self._gate(mailbox).hold(back_off)
        return resend


def _result(action: ExchangeAction, status: int, body: Any, headers: dict, ctx) -> ActionResult:
    if 200 <= status < 300:
        if action.action == "delete":
            return ActionResult(ok=True, item_id=action.item_id)
        body = body or {}
        return ActionResult(
            ok=True, item_id=body.get("id") or action.item_id, change_key=body.get("changeKey")
        )
    err = item_failure(status, body if isinstance(body, dict) else None, headers, ctx)
    if action.action == "delete" and isinstance(err, ItemNotFound):
        return ActionResult(ok=True, item_id=action.item_id, message="already deleted")
    return ActionResult(
        ok=False, item_id=action.item_id, error=type(err).__name__, message=str(err)
    )


def _is_own(entry: dict[str, Any], own: Mapping[str, str | None]) -> bool:
    item_id = entry.get("id")
    if item_id not in own:
        return False
    expected = own[item_id]
    if "@removed" in entry:
        return expected is None
    return expected is not None and entry.get("changeKey") == expected


def _read_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        state = json.loads(cursor)
    except (ValueError, TypeError):
        return None
    if not isinstance(state, dict) or state.get("v") != CURSOR_VERSION:
        return None
    if not all(isinstance(state.get(k), str) for k in ("start", "end", "link")):
        return None
    return state


def _write_cursor(start: str, end: str, link: str) -> str:
    return json.dumps({"v": CURSOR_VERSION, "start": start, "end": end, "link": link})
