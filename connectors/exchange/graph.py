"""The Microsoft Graph backend of the Exchange connector (Exchange Online).

Request budget (Graph requests; the token is fetched by msal once and cached until expiry):

- `changed_since` on an untouched calendar: 1 GET of the stored `@odata.deltaLink`
  (calendarView/delta). More only when changes span several pages. A first call, an expired
  delta token (410) or a window that drifted costs one initial delta round (a page per 100
  items in the window) and reports `changed=True`.
- `read_window` of N items: ceil(N/page_size) GET calendarView (page_size 500 by default),
  fields and tag in the same answer.
- `apply` of N actions: ceil(N/20) POST $batch (plus a resend of what Graph did not run: a
  request throttled or failed inside the batch, and those chained after a refused one).
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
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

from connectors.exchange import graph_ops as ops
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
    is_engine_write,
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
from connectors.exchange.retry import (
    AccountGate,
    RefusedForNow,
    RetryPolicy,
    gate_for,
    repeat_while_refused,
    run_with_retry,
)
from connectors.exchange.writes import WRITE_ORDER, Outcomes, check_action, write_kind

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH_SIZE = 20  # Graph's JSON batching limit
DELTA_PAGE = 100
MAX_PAGES = 10_000
CURSOR_VERSION = "graph-delta-1"
WRITE_PROBE_ID = "AAMkAGFjY2Vzcy1wcm9iZS1vZi10cmFpbmVyLXN5bmM"  # no item has this id


class DeltaTokenRejected(Exception):
    """Graph no longer accepts a delta link (410 Gone / SyncStateNotFound), or a delta round
    ended without one: a new round must start."""


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
        return gate_for(
            f"{cfg.endpoint}#{cfg.tenant_id}/{cfg.client_id}",
            mailbox or "",
            self.retry_policy.clock,
        )

    def _context(self, mailbox: str | None) -> Context:
        return replace(self._ctx, mailbox=mailbox, roles=self.client.roles)

    def _call(
        self, op: Callable[[], T], *, mailbox: str | None, policy: RetryPolicy | None = None
    ) -> T:
        # Every Graph request may be sent again: reads and deletes are idempotent, an update
        # applied once is refused the second time by its change key (412, never applied twice),
        # and a create carries a transactionId, so Graph does not make a second event for it.
        return run_with_retry(
            op,
            gate=self._gate(mailbox),
            classify=lambda exc: classify(exc, self._context(mailbox)),
            policy=policy or self.retry_policy,
            on_back_off=self.stats.backed_off,
        )

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
        if tenant_wide_write(self.client.roles):
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
        calendar: dict[str, Any] = self._call(
            lambda: self.client.request(
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
        refused = refused_before_asking(
            mailbox,
            direction,
            account=f"service's account {cfg.username}",
            account_domain=cfg.master_domain,
            domain_owner="the service's",
        )
        if refused is not None:
            return refused
        try:
            self._read_calendar(mailbox)
        except MailboxNotFound as exc:
            return access_result(mailbox, direction, AccessProblem("mailbox_not_found", str(exc)))
        except AccessDenied:
            return access_result(
                mailbox, direction, AccessProblem("no_access", str(self._why_denied(mailbox)))
            )
        if direction == "in":
            return access_result(mailbox, direction, rights=("read",))
        if tenant_wide_write(self.client.roles) or self._may_write(mailbox):
            return access_result(mailbox, direction, rights=NEEDED_RIGHTS[direction])
        return access_result(
            mailbox,
            direction,
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
                lambda: self.client.request(
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

    def read_window(self, mailbox: str, start: dt.datetime, end: dt.datetime) -> list[ExchangeRow]:
        """Items overlapping [start, end), occurrences expanded, in start order.

        One calendarView request per `page_size` items returns fields and tag together.
        """
        check_window(start, end)
        url = self._user(mailbox) + "/calendarView"
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
                partial(
                    self.client.request,
                    "GET",
                    url,
                    mailbox=mailbox,
                    operation="calendarView",
                    params=params,
                ),
                mailbox=mailbox,
            )
            for event in page.get("value", []):
                if event.get("type") == "seriesMaster":
                    continue
                rows.setdefault(event["id"], ops.row_from_event(event))
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return sorted(rows.values(), key=lambda r: (r.start, r.item_id))
            url, params = str(next_link), None
        raise ExchangeError(f"The calendar view of {mailbox} pages without end.")

    # -- change gate ----------------------------------------------------------------------

    def changed_since(
        self,
        mailbox: str,
        cursor: str | None,
        engine_writes: Mapping[str, str | None] | None = None,
        window: tuple[dt.datetime, dt.datetime] | None = None,
    ) -> ChangeCheck:
        """GET the stored deltaLink: an untouched calendar costs one request.

        The cursor holds the deltaLink and the span it tracks (calendarView/delta is bound to
        the start/end of its first request). No cursor, an expired or invalid one, or a span
        that no longer covers `window` (the provider's sync window; without it
        [now - past, now + future] of this connector's defaults) starts a new round over the
        window, `window_slack` beyond its end, and counts as changed.
        """
        start, end = window or self._default_window()
        state = _read_cursor(cursor)
        if state is None or self._drifted(state, start, end):
            return self._initial(mailbox, start, end)
        writes = engine_writes or {}
        try:
            entries, link = self._drain(mailbox, state["link"], None)
        except DeltaTokenRejected:
            log.info("delta token of %s no longer valid; starting a new round", mailbox)
            return self._initial(mailbox, start, end)
        changed = any(
            not is_engine_write(writes, e.get("id"), e.get("changeKey"), removed="@removed" in e)
            for e in entries
        )
        return ChangeCheck(
            changed=changed, cursor=_write_cursor(state["start"], state["end"], link)
        )

    def _default_window(self) -> tuple[dt.datetime, dt.datetime]:
        now = self._clock()
        return now - self.window_past, now + self.window_future

    @staticmethod
    def _drifted(state: dict[str, Any], start: dt.datetime, end: dt.datetime) -> bool:
        tracked_start = dt.datetime.fromisoformat(state["start"])
        tracked_end = dt.datetime.fromisoformat(state["end"])
        return tracked_start > start or tracked_end < end

    def _initial(self, mailbox: str, start: dt.datetime, end: dt.datetime) -> ChangeCheck:
        end = end + self.window_slack
        params = {"startDateTime": _iso(start), "endDateTime": _iso(end)}
        _, link = self._drain(mailbox, self._user(mailbox) + "/calendarView/delta", params)
        return ChangeCheck(changed=True, cursor=_write_cursor(_iso(start), _iso(end), link))

    def _drain(
        self, mailbox: str, url: str, params: dict[str, str] | None
    ) -> tuple[list[dict[str, Any]], str]:
        """Follow nextLinks to the deltaLink; returns the entries and the deltaLink."""
        entries: list[dict[str, Any]] = []
        page_url: str | None = url
        for _ in range(MAX_PAGES):
            if not page_url:
                raise DeltaTokenRejected("a delta page without nextLink or deltaLink")
            page = self._call(partial(self._delta_page, mailbox, page_url, params), mailbox=mailbox)
            entries.extend(page.get("value", []))
            if page.get("@odata.deltaLink"):
                return entries, str(page["@odata.deltaLink"])
            page_url, params = page.get("@odata.nextLink"), None
        raise ExchangeError(f"The calendar of {mailbox} reports changes without end.")

    def _delta_page(self, mailbox: str, url: str, params: dict[str, str] | None) -> dict[str, Any]:
        try:
            page: dict[str, Any] = self.client.request(
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
                raise DeltaTokenRejected(exc.code) from exc
            raise
        return page

    # -- writes ---------------------------------------------------------------------------

    def apply(self, mailbox: str, actions: Sequence[ExchangeAction]) -> list[ActionResult]:
        """Deletes, then updates, then creates, 20 a `$batch`; one result per action, in order.

        Sub-requests of a batch are chained with `dependsOn`, so Graph runs them one after the
        other (several at once to one mailbox exceed its concurrency limit and are answered
        429). A refused item fails alone: the ones chained after it are answered 424 and sent
        again. A whole request that fails after retries fails its items and those not yet sent.
        """
        outcomes = Outcomes(actions)
        prepared: dict[int, dict[str, Any]] = {}
        attempt = uuid.uuid4().hex  # resends of this call's creates carry the same transactionId
        for index, action in enumerate(actions):
            try:
                check_action(action)
                prepared[index] = ops.subrequest(mailbox, action, PREFER, attempt)
            except (ValueError, TypeError, KeyError) as exc:
                outcomes.invalid(index, exc)
        rank = {kind: n for n, kind in enumerate(WRITE_ORDER)}
        queue = sorted(prepared, key=lambda i: (rank[write_kind(actions[i])], i))
        self._send_all(mailbox, queue, prepared, outcomes)
        return outcomes.all("Microsoft Graph")

    def _send_all(
        self,
        mailbox: str,
        queue: list[int],
        prepared: dict[int, dict[str, Any]],
        outcomes: Outcomes,
    ) -> None:
        """Send the queue, 20 a batch. What Graph did not run goes to the front of the queue:
        after a refused request at once, after a throttled or failed one once the mailbox's
        gate opens (or a jittered back-off), within the time budget."""
        tries: dict[int, int] = {}

        def send_queue() -> None:
            nonlocal queue
            while queue:
                chunk = queue[:BATCH_SIZE]
                resend, retried = self._batch(mailbox, chunk, prepared, outcomes, tries)
                queue = resend + queue[BATCH_SIZE:]
                if retried:
                    raise RefusedForNow

        try:
            repeat_while_refused(
                send_queue,
                gate=self._gate(mailbox),
                policy=self.retry_policy,
                give_up=lambda: ServerBusy(
                    f"Microsoft Graph kept refusing writes to {mailbox} for over "
                    f"{self.retry_policy.max_elapsed:.0f} s.",
                    "Retry later; lower the parallelism of this service if it persists.",
                ),
            )
        except ExchangeError as exc:
            outcomes.fail_unanswered(queue, exc)

    def _batch(
        self,
        mailbox: str,
        chunk: list[int],
        prepared: dict[int, dict[str, Any]],
        outcomes: Outcomes,
        tries: dict[int, int],
    ) -> tuple[list[int], bool]:
        """Send one $batch and record its results. Returns the indexes to send again, and
        whether any of them was refused (throttled or failed) rather than merely not run."""
        requests = []
        for n, index in enumerate(chunk):
            sub = {"id": str(index), **prepared[index]}
            if n:
                sub["dependsOn"] = [str(chunk[n - 1])]
            requests.append(sub)
        answer = self._call(
            partial(
                self.client.request,
                "POST",
                "/$batch",
                mailbox=mailbox,
                operation="$batch",
                json_body={"requests": requests},
            ),
            mailbox=mailbox,
        )
        by_id = {str(r.get("id")): r for r in (answer or {}).get("responses", [])}
        ctx = self._context(mailbox)
        policy = self.retry_policy
        resend: list[int] = []
        retried, back_off = False, 0.0
        for index in chunk:
            response = by_id.get(str(index))
            if response is None:
                raise ExchangeError(f"Microsoft Graph answered no result for request {index}.")
            status = int(response.get("status", 500))
            body, headers = response.get("body"), response.get("headers") or {}
            if status == 424:
                resend.append(index)  # not run: an earlier request of the chain failed
                continue
            if status == 429 or status >= 500:
                tries[index] = tries.get(index, 0) + 1
                if status == 429 or tries[index] < policy.max_attempts:
                    asked = retry_after_of(headers)
                    if status == 429:
                        asked = policy.busy_back_off(asked)
                    back_off = max(back_off, asked or 0.0)
                    resend.append(index)
                    retried = True
                    continue
            outcomes.set(index, _result(outcomes.actions[index], status, body, headers, ctx))
        if back_off:
            self._gate(mailbox).hold(back_off)
            self.stats.backed_off()
        return resend, retried


def _result(
    action: ExchangeAction, status: int, body: Any, headers: dict[str, str], ctx: Context
) -> ActionResult:
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
