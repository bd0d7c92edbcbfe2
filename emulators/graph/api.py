"""Graph v1.0 calendar operations on the store, for one caller (an app or a signed-in user).

`Api.handle` answers one request (a top-level one or one inside `$batch`) as
(status, headers, JSON body). Authorisation follows Exchange Online: a user not in the
directory is 404 `ErrorInvalidUser`, a user without an Exchange Online mailbox 404
`MailboxNotEnabledForRESTAPI`, a mailbox outside the app's RBAC-for-Applications scope or a
token without the needed role 403 `ErrorAccessDenied`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from . import events as E
from .behaviour import Behaviour
from .model import Mailbox, Store, new_change_key, new_id

READ_ROLES = {"Calendars.Read", "Calendars.ReadWrite", "Calendars.ReadBasic.All"}
MAX_TOP = 1000
DEFAULT_TOP = 10
DELTA_PAGE = 100
_PREFER = re.compile(r'([\w.\-]+)\s*=\s*"?([^",]*)"?')
_ANY = re.compile(
    r"singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'([^']*)'"
    r"(?:\s+and\s+\1/value\s+eq\s+'([^']*)')?\s*\)",
    re.IGNORECASE,
)
_EXPAND = re.compile(
    r"^singleValueExtendedProperties(?:\(\$filter=(.*)\))?$", re.IGNORECASE | re.DOTALL
)
_ID_EQ = re.compile(r"id\s+eq\s+'([^']*)'", re.IGNORECASE)


class GraphError(Exception):
    """An error answer: HTTP status, Graph error code, message, extra headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """Graph's error body."""
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> dict[str, Any]:
    """`{"error": {code, message, innerError}}` as Graph sends it."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    inner = {"date": now, "request-id": str(uuid.uuid4()), "client-request-id": str(uuid.uuid4())}
    return {"error": {"code": code, "message": message, "innerError": inner}}


@dataclass
class Caller:
    """Who is calling: an app (roles, RBAC scope) or a user (its own mailbox only)."""

    name: str  # client id of an app, address of a user
    tenant: str
    roles: frozenset[str]
    user: str | None = None  # set for a signed-in user


@dataclass
class Reply:
    """One answer."""

    status: int
    body: Any = None
    headers: dict[str, str] | None = None


def prefer(headers: dict[str, str]) -> dict[str, str]:
    """The Prefer preferences of a request, by lower-case name."""
    return {k.lower(): v for k, v in _PREFER.findall(headers.get("prefer", ""))}


class DeltaState(TypedDict):
    """What a delta round's `$skiptoken` / `$deltatoken` carries (base64 JSON, unsigned)."""

    m: str  # the mailbox
    s: str  # the window's start and end, ISO 8601
    e: str
    since: int  # report changes after this mailbox sequence number (-1: first round, all)
    upto: int  # ... up to this one
    off: int  # entries of the round already sent on earlier pages
    ep: int  # the mailbox's delta epoch when the round started


def _encode_token(data: DeltaState) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _decode_token(token: str) -> DeltaState:
    try:
        # Not checked beyond JSON: the caller compares the mailbox and epoch it names.
        state: DeltaState = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return state
    except (ValueError, json.JSONDecodeError) as exc:
        raise GraphError(400, "ErrorInvalidSyncStateData", "The sync state is invalid.") from exc


class Api:
    """The Graph calendar endpoints over one store."""

    def __init__(self, store: Store, behaviour: Behaviour) -> None:
        self.store = store
        self.behaviour = behaviour

    # --- entry --------------------------------------------------------------------------------
    def mailbox_of(self, caller: Caller, path: str) -> str | None:
        """The mailbox address a request addresses (None when it addresses none)."""
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/") if p]
        if parts and parts[0] == "me":
            return caller.user
        if len(parts) >= 2 and parts[0].lower() == "users":
            return parts[1]
        return None

    def handle(
        self,
        caller: Caller,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
        base_url: str,
    ) -> tuple[str, Reply]:
        """Answer one request; returns (operation name, reply)."""
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/") if p]
        op = "unknown"
        try:
            if not parts or parts[0] not in ("me", "users"):
                raise GraphError(400, "BadRequest", f"Resource not found for the segment '{path}'.")
            if parts[0] == "me":
                if caller.user is None:
                    raise GraphError(
                        400,
                        "BadRequest",
                        "/me request is only valid with delegated authentication flow.",
                    )
                user, rest = caller.user, parts[1:]
            else:
                if len(parts) < 2:
                    raise GraphError(
                        403, "Authorization_RequestDenied", "Listing users is not supported here."
                    )
                user, rest = parts[1], parts[2:]
            op = _operation(method, rest)
            return self._route(caller, method, user, rest, query, headers, body, base_url)
        except GraphError as err:
            return op, Reply(err.status, err.body(), err.headers)
        except E.InvalidEvent as err:
            return op, Reply(400, error_body(err.code, str(err)))

    def _route(
        self,
        caller: Caller,
        method: str,
        user: str,
        rest: list[str],
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
        base_url: str,
    ) -> tuple[str, Reply]:
        if rest[:1] == ["calendar"] and len(rest) > 1:
            rest = rest[1:]  # /calendar/events..., /calendar/calendarView...: the default calendar
        elif rest == ["calendar"]:
            mb = self._open(caller, user, write=False)
            return "calendar.get", Reply(200, self._calendar(caller, mb, user))
        if rest == ["calendarView"] and method == "GET":
            mb = self._open(caller, user, write=False)
            return "calendarView", Reply(200, self._view(mb, user, query, headers, base_url))
        if rest == ["calendarView", "delta"] and method == "GET":
            mb = self._open(caller, user, write=False)
            return "calendarView.delta", self._delta(mb, user, query, headers, base_url)
        if rest == ["events"]:
            if method == "GET":
                mb = self._open(caller, user, write=False)
                return "events.list", Reply(200, self._list(mb, user, query, headers, base_url))
            if method == "POST":
                mb = self._open(caller, user, write=True)
                return "events.create", self._create(mb, body, headers)
        if len(rest) == 2 and rest[0] in ("events", "calendarView"):
            event_id = rest[1]
            if method == "GET":
                mb = self._open(caller, user, write=False)
                return "events.get", self._get(mb, event_id, query, headers)
            if method == "PATCH":
                mb = self._open(caller, user, write=True)
                return "events.update", self._update(mb, event_id, body, headers)
            if method == "DELETE":
                mb = self._open(caller, user, write=True)
                return "events.delete", self._delete(mb, event_id, "deleteditems")
        if (
            len(rest) == 3
            and rest[0] == "events"
            and rest[2] == "permanentDelete"
            and method == "POST"
        ):
            mb = self._open(caller, user, write=True)
            return "events.permanentDelete", self._delete(mb, rest[1], "purged")
        raise GraphError(
            405 if rest and rest[0] in ("events", "calendarView") else 400,
            "BadRequest",
            f"Unsupported request: {method} {'/'.join(rest)}.",
        )

    # --- access -------------------------------------------------------------------------------
    def _open(self, caller: Caller, user: str, write: bool) -> Mailbox:
        account = self.store.accounts.get(user.lower())
        if account is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        mb = self.store.mailbox(user)
        if mb is None:
            raise GraphError(
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            )
        denied = GraphError(
            403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
        )
        if caller.user is not None:
            if caller.user.lower() != user.lower():
                raise denied
            return mb
        app = self.store.app(caller.tenant, caller.name)
        held = app.roles_for(user) if app is not None else set()
        if not held & READ_ROLES or (write and "Calendars.ReadWrite" not in held):
            raise denied
        return mb

    def _calendar(self, caller: Caller, mb: Mailbox, user: str) -> dict[str, Any]:
        app = self.store.app(caller.tenant, caller.name) if caller.user is None else None
        can_edit = caller.user is not None or (
            app is not None and "Calendars.ReadWrite" in app.roles_for(user)
        )
        return {
            "id": "AAMkCalendar" + base64.urlsafe_b64encode(mb.email.lower().encode()).decode(),
            "name": "Calendar",
            "color": "auto",
            "isDefaultCalendar": True,
            "changeKey": "calendar",
            "canShare": True,
            "canViewPrivateItems": True,
            "canEdit": can_edit,
            "owner": {"name": mb.email.split("@")[0], "address": mb.email},
        }

    # --- reads --------------------------------------------------------------------------------
    @staticmethod
    def _shape(query: dict[str, str], headers: dict[str, str]) -> E.RenderOptions:
        prefs = prefer(headers)
        select = {s.strip() for s in query.get("$select", "").split(",") if s.strip()} or None
        expand = query.get("$expand")
        props: list[str] | None = None
        if expand:
            m = _EXPAND.match(expand.strip())
            if not m:
                raise GraphError(
                    400, "BadRequest", f"Parsing OData Select and Expand failed: {expand}"
                )
            props = _ID_EQ.findall(m.group(1) or "")
        return {
            "tz_name": prefs.get("outlook.timezone", "UTC"),
            "text_body": prefs.get("outlook.body-content-type", "").lower() == "text",
            "select": select,
            "expand_props": props,
        }

    @staticmethod
    def _window(query: dict[str, str]) -> tuple[dt.datetime, dt.datetime]:
        try:
            start = E.parse_instant(query["startDateTime"])
            end = E.parse_instant(query["endDateTime"])
        except KeyError as exc:
            raise GraphError(
                400,
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters "
                "StartDateTime and EndDateTime.",
            ) from exc
        except ValueError as exc:
            raise GraphError(400, "ErrorInvalidParameter", f"Invalid date: {exc}") from exc
        return start, end

    def _instances(self, mb: Mailbox, start: dt.datetime, end: dt.datetime) -> list[E.Instance]:
        out: list[E.Instance] = []
        for ev in mb.events.values():
            if ev.get("_folder") == "calendar":
                out.extend(E.instances(ev, start, end))
        out.sort(key=lambda i: (i[1], i[0]))
        return out

    def _page(self, query: dict[str, str], headers: dict[str, str]) -> tuple[int, int]:
        try:
            top = int(query.get("$top") or prefer(headers).get("odata.maxpagesize") or DEFAULT_TOP)
            skip = int(query.get("$skip") or 0)
        except ValueError as exc:
            raise GraphError(400, "BadRequest", "Invalid $top or $skip.") from exc
        if top < 1 or top > MAX_TOP:
            raise GraphError(400, "ErrorInvalidArgument", f"$top must be between 1 and {MAX_TOP}.")
        return top, skip

    def _view(
        self,
        mb: Mailbox,
        user: str,
        query: dict[str, str],
        headers: dict[str, str],
        base_url: str,
    ) -> dict[str, Any]:
        start, end = self._window(query)
        shape = self._shape(query, headers)
        top, skip = self._page(query, headers)
        rows = self._instances(mb, start, end)
        wanted = _filter(query.get("$filter"))
        rows = [r for r in rows if wanted(r[3])]
        out: dict[str, Any] = {
            "@odata.context": f"{base_url}/$metadata#users('{user}')/calendarView",
            "value": [E.render(f, s, e, **shape) for _, s, e, f in rows[skip : skip + top]],
        }
        if skip + top < len(rows):
            q = {**query, "$top": str(top), "$skip": str(skip + top)}
            out["@odata.nextLink"] = (
                f"{base_url}/users/{urllib.parse.quote(user)}/calendarView?"
                + urllib.parse.urlencode(q)
            )
        return out

    def _list(
        self,
        mb: Mailbox,
        user: str,
        query: dict[str, str],
        headers: dict[str, str],
        base_url: str,
    ) -> dict[str, Any]:
        shape = self._shape(query, headers)
        top, skip = self._page(query, headers)
        wanted = _filter(query.get("$filter"))
        evs = [ev for ev in mb.events.values() if ev.get("_folder") == "calendar" and wanted(ev)]
        evs.sort(key=lambda ev: ev.get("createdDateTime") or "")
        out: dict[str, Any] = {
            "@odata.context": f"{base_url}/$metadata#users('{user}')/events",
            "value": [
                E.render(ev, E.instant(ev["start"]), E.instant(ev["end"]), **shape)
                for ev in evs[skip : skip + top]
            ],
        }
        if skip + top < len(evs):
            q = {**query, "$top": str(top), "$skip": str(skip + top)}
            out["@odata.nextLink"] = (
                f"{base_url}/users/{urllib.parse.quote(user)}/events?" + urllib.parse.urlencode(q)
            )
        return out

    def _find(self, mb: Mailbox, event_id: str) -> tuple[dict[str, Any], str | None]:
        """(series or single event, occurrence key or None); 404 when gone."""
        master_id, _, occ = event_id.partition(".")
        ev = mb.events.get(master_id)
        if ev is None or ev.get("_folder") != "calendar" or (occ and not ev.get("recurrence")):
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        if occ and occ in (ev.get("_cancelled") or {}):
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return ev, occ or None

    def _instance(self, ev: dict[str, Any], occ: str | None) -> E.Instance:
        if occ is None:
            return ev["id"], E.instant(ev["start"]), E.instant(ev["end"]), ev
        day = dt.datetime.strptime(occ, "%Y%m%d").replace(tzinfo=dt.UTC)
        for inst in E.instances(ev, day - dt.timedelta(days=2), day + dt.timedelta(days=3)):
            if inst[3].get("_occurrence") == occ:
                return inst
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )

    def _get(
        self, mb: Mailbox, event_id: str, query: dict[str, str], headers: dict[str, str]
    ) -> Reply:
        ev, occ = self._find(mb, event_id)
        _, s, e, fields = self._instance(ev, occ)
        return Reply(200, E.render(fields, s, e, **self._shape(query, headers)))

    # --- delta --------------------------------------------------------------------------------
    def _delta(
        self,
        mb: Mailbox,
        user: str,
        query: dict[str, str],
        headers: dict[str, str],
        base_url: str,
    ) -> Reply:
        prefs = prefer(headers)
        size = int(prefs.get("odata.maxpagesize") or DELTA_PAGE)
        if "$deltatoken" in query or "$skiptoken" in query:
            state = _decode_token(query.get("$deltatoken") or query["$skiptoken"])
            if state.get("m", "").lower() != mb.email.lower() or state.get("ep") != mb.delta_epoch:
                raise GraphError(
                    410,
                    "SyncStateNotFound",
                    "The sync state generation is not found. Start a new round of synchronization.",
                )
            if "$deltatoken" in query:
                state = {**state, "upto": mb.seq, "off": 0}
        else:
            start, end = self._window(query)
            state = {
                "m": mb.email,
                "s": start.isoformat(),
                "e": end.isoformat(),
                "since": -1,
                "upto": mb.seq,
                "off": 0,
                "ep": mb.delta_epoch,
            }
        shape: E.RenderOptions = {
            "tz_name": prefs.get("outlook.timezone", "UTC"),
            "text_body": prefs.get("outlook.body-content-type", "").lower() == "text",
            "select": None,
            "expand_props": None,  # delta answers carry no extended properties
        }
        entries = self._changes(mb, state, shape)
        off = state["off"]
        page = entries[off : off + size]
        link = f"{base_url}/users/{urllib.parse.quote(user)}/calendarView/delta?"
        out: dict[str, Any] = {
            "@odata.context": f"{base_url}/$metadata#Collection(event)",
            "value": page,
        }
        if off + size < len(entries):
            nxt: DeltaState = {**state, "off": off + size}
            out["@odata.nextLink"] = link + urllib.parse.urlencode(
                {"$skiptoken": _encode_token(nxt)}
            )
        else:
            done: DeltaState = {**state, "since": state["upto"], "off": 0}
            out["@odata.deltaLink"] = link + urllib.parse.urlencode(
                {"$deltatoken": _encode_token(done)}
            )
        return Reply(200, out)

    def _changes(
        self, mb: Mailbox, state: DeltaState, shape: E.RenderOptions
    ) -> list[dict[str, Any]]:
        start, end = dt.datetime.fromisoformat(state["s"]), dt.datetime.fromisoformat(state["e"])
        since = state["since"]
        out: dict[str, dict[str, Any]] = {}

        def removed(item_id: str) -> None:
            out[item_id] = {
                "@odata.type": "#microsoft.graph.event",
                "id": item_id,
                "@removed": {"reason": "deleted"},
            }

        for ev in mb.events.values():
            seq = ev.get("_seq", 0)
            if seq <= since:
                continue
            live = ev.get("_folder") == "calendar"
            if since < 0 and not live:
                continue
            insts = E.instances(ev, start, end)
            if live:
                for item_id, s, e, fields in insts:
                    out[item_id] = E.render(fields, s, e, **shape)
                if since >= 0:
                    for key, cseq in (ev.get("_cancelled") or {}).items():
                        if cseq > since:
                            removed(f"{ev['id']}.{key}")
                    if not insts and not ev.get("recurrence"):
                        removed(ev["id"])  # moved out of the window
            elif ev.get("recurrence"):
                for item_id, *_ in E.instances({**ev, "_cancelled": {}}, start, end):
                    removed(item_id)
            else:
                removed(ev["id"])
        return [out[k] for k in sorted(out)]

    # --- writes -------------------------------------------------------------------------------
    def _now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def _check_body(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise GraphError(400, "RequestBodyRead", "A JSON object body is required.")
        for key in body:
            if key.startswith("@odata") or key in E.WRITABLE:
                continue
            raise GraphError(
                400,
                "RequestBodyRead",
                f"The property '{key}' does not exist on type 'microsoft.graph.event'.",
            )
        return body

    def _refuse(self, mb: Mailbox, subject: str) -> None:
        refusal = self.behaviour.refusal(mb.email, subject or "")
        if refusal:
            raise GraphError(refusal["status"], refusal["code"], refusal["message"])

    def _create(self, mb: Mailbox, body: Any, headers: dict[str, str]) -> Reply:
        body = self._check_body(body)
        self._refuse(mb, body.get("subject", ""))
        if "start" not in body or "end" not in body:
            raise GraphError(400, "ErrorInvalidRequest", "An event needs start and end.")
        with self.store.lock:
            shape = self._shape({}, headers)
            earlier = self._same_transaction(mb, body.get("transactionId"))
            if earlier is not None:
                # A client's repeat of a create it got no answer for: answered like the first
                # send, with the event that one made, and nothing new is made.
                start, end = E.instant(earlier["start"]), E.instant(earlier["end"])
                return Reply(201, E.render(earlier, start, end, **shape))
            now = self._now()
            ev = {k: v for k, v in body.items() if not k.startswith("@")}
            ev.update(
                id=new_id(),
                createdDateTime=now.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
                iCalUId="040000008200E00074C5B7101A82E008" + uuid.uuid4().hex.upper(),
                _folder="calendar",
                # The mailbox owner organizes an event made in their calendar, whoever made it.
                organizer=E.organizer(mb.email),
            )
            ev["singleValueExtendedProperties"] = E.merge_props(
                [], ev.get("singleValueExtendedProperties") or []
            )
            E.validate(ev)
            E.touch(ev, mb.bump(), now)
            mb.events[ev["id"]] = ev
            self.store.save()
            return Reply(201, E.render(ev, E.instant(ev["start"]), E.instant(ev["end"]), **shape))

    @staticmethod
    def _same_transaction(mb: Mailbox, transaction_id: Any) -> dict[str, Any] | None:
        """The event of the mailbox's calendar an earlier create with this transactionId made.

        Only events still in the calendar count: once deleted, the same create makes a new one.
        """
        if not transaction_id:
            return None
        for ev in mb.events.values():
            if ev.get("_folder") == "calendar" and ev.get("transactionId") == transaction_id:
                return ev
        return None

    def _update(self, mb: Mailbox, event_id: str, body: Any, headers: dict[str, str]) -> Reply:
        body = self._check_body(body)
        with self.store.lock:
            ev, occ = self._find(mb, event_id)
            _, s, e, current = self._instance(ev, occ)
            if_match = headers.get("if-match")
            if if_match and if_match != "*":
                wanted = if_match.removeprefix("W/").strip('"')
                if wanted != current["changeKey"]:
                    raise GraphError(
                        412,
                        "ErrorIrresolvableConflict",
                        "The send or update operation could not be performed because the change "
                        "key passed in the request does not match the current change key for "
                        "the item.",
                    )
            self._refuse(mb, body.get("subject", current.get("subject", "")))
            if body.get("transactionId", ev.get("transactionId")) != ev.get("transactionId"):
                raise GraphError(
                    400, "ErrorInvalidRequest", "The transactionId of an event cannot be changed."
                )
            changes = {k: v for k, v in body.items() if not k.startswith("@")}
            now = self._now()
            if occ is None:
                merged = {**ev, **changes}
                merged["singleValueExtendedProperties"] = E.merge_props(
                    ev.get("singleValueExtendedProperties") or [],
                    changes.get("singleValueExtendedProperties") or [],
                )
                E.validate(merged)
                ev.clear()
                ev.update(merged)
                E.touch(ev, mb.bump(), now)
                target, ts, te = ev, E.instant(ev["start"]), E.instant(ev["end"])
            else:
                exc = dict((ev.get("_exceptions") or {}).get(occ, {}))
                if "start" not in exc:
                    exc["start"] = {"dateTime": s.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}
                    exc["end"] = {"dateTime": e.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}
                exc.update(changes)
                E.validate({**ev, **exc, "recurrence": None})
                exc["changeKey"] = new_change_key()
                ev.setdefault("_exceptions", {})[occ] = exc
                E.touch(ev, mb.bump(), now)
                _, ts, te, target = self._instance(ev, occ)
            self.store.save()
            return Reply(200, E.render(target, ts, te, **self._shape({}, headers)))

    def _delete(self, mb: Mailbox, event_id: str, folder: str) -> Reply:
        with self.store.lock:
            ev, occ = self._find(mb, event_id)
            seq = mb.bump()
            if occ is None:
                ev["_folder"] = folder
                ev["_seq"] = seq
            else:
                ev.setdefault("_cancelled", {})[occ] = seq
                E.touch(ev, seq, self._now())
            self.store.save()
        return Reply(204)


def _operation(method: str, rest: list[str]) -> str:
    """The counter name of a request (known before it is answered, errors included)."""
    rest = rest[1:] if rest[:1] == ["calendar"] and len(rest) > 1 else rest
    if rest == ["calendar"]:
        return "calendar.get"
    if rest[:1] == ["calendarView"] and len(rest) == 1:
        return "calendarView"
    if rest == ["calendarView", "delta"]:
        return "calendarView.delta"
    if rest == ["events"]:
        return "events.create" if method == "POST" else "events.list"
    if len(rest) == 3 and rest[2] == "permanentDelete":
        return "events.permanentDelete"
    if len(rest) == 2:
        names = {"GET": "events.get", "PATCH": "events.update", "DELETE": "events.delete"}
        return names.get(method, "unknown")
    return "unknown"


def _filter(expr: str | None) -> Callable[[dict[str, Any]], bool]:
    """A predicate for `$filter` on single-value extended properties (id, optionally value)."""
    if not expr:
        return lambda ev: True
    m = _ANY.fullmatch(expr.strip())
    if not m:
        raise GraphError(
            400, "ErrorInvalidUrlQueryFilter", f"The query filter '{expr}' is not supported."
        )
    prop_id, value = E.normalise_prop_id(m.group(2)), m.group(3)

    def wanted(ev: dict[str, Any]) -> bool:
        for p in ev.get("singleValueExtendedProperties") or []:
            if E.normalise_prop_id(p["id"]) == prop_id and (value is None or p["value"] == value):
                return True
        return False

    return wanted
