"""The HTTP side: EWS endpoint, OAuth2 token endpoint and the /_control/ JSON API."""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import ssl
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lxml import etree

from .behaviour import Behaviour
from .errors import EwsError, HttpFailure
from .model import App, Grant, Item, Store
from .ops import Ctx, Operations
from .render import occurrences
from .xmlutil import SOAP, child, children, envelope, local, parse, serialize, soap_fault

EWS_PATH = "/ews/exchange.asmx"
MUTATING = {"CreateItem", "UpdateItem", "DeleteItem"}
LIST_CONTAINERS = ("Items", "ItemIds", "ItemChanges", "FolderIds", "ParentFolderIds", "SourceIds")
KNOWN_API_VERSIONS = {
    "Exchange2007", "Exchange2007_SP1", "Exchange2010", "Exchange2010_SP1", "Exchange2010_SP2",
    "Exchange2013", "Exchange2013_SP1", "Exchange2015", "Exchange2016", "Exchange2019",
}  # fmt: skip
TOKEN_LIFETIME_S = 3599


class EwsHttpServer(ThreadingHTTPServer):
    """Threaded HTTP server holding the emulator's state; optionally TLS (handshake per thread)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        store: Store,
        behaviour: Behaviour,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.store = store
        self.behaviour = behaviour
        self.ops = Operations(store)
        self.ssl_context = ssl_context
        super().__init__(address, Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """One HTTP request."""

    protocol_version = "HTTP/1.1"
    server: EwsHttpServer
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle + delayed ACK stall
        # every keep-alive response by ~40 ms.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the emulator is used inside test runs."""

    # --- plumbing -----------------------------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), "application/json; charset=utf-8")

    def _xml(self, status: int, body: bytes) -> None:
        self._send(status, body, "text/xml; charset=utf-8")

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = urllib.parse.urlsplit(self.path)
        if path.path.startswith("/_control/"):
            self._control("GET", path, b"")
        elif path.path.lower() == EWS_PATH:
            self._send(200, b"EWS emulator", "text/plain")
        else:
            self._send(404, b"Not found", "text/plain")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        body = self._body()
        path = urllib.parse.urlsplit(self.path)
        if path.path.lower() == EWS_PATH:
            self._ews(body)
        elif path.path.startswith("/_control/"):
            self._control("POST", path, body)
        elif path.path.endswith("/oauth2/v2.0/token"):
            self._token(path.path.split("/")[1], body)
        else:
            self._send(404, b"Not found", "text/plain")

    def do_DELETE(self) -> None:  # noqa: N802 - stdlib naming
        self._body()
        self._control("DELETE", urllib.parse.urlsplit(self.path), b"")

    # --- EWS ----------------------------------------------------------------------------------
    def _ews(self, body: bytes) -> None:
        try:
            self._ews_request(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - never leak a stack trace to the client
            fault = f"Request failed: {type(exc).__name__}: {exc}"
            self._xml(500, soap_fault("ErrorInternalServerError", fault))

    def _ews_request(self, body: bytes) -> None:
        srv = self.server
        beh = srv.behaviour
        try:
            beh.random_failure()
        except HttpFailure as f:
            self._http_failure(f)
            return
        caller = self._authenticate()
        if caller is None:
            self._send(
                401,
                b"",
                "text/html",
                {"WWW-Authenticate": 'Basic realm="127.0.0.1"'},
            )
            return
        try:
            doc = parse(body)
            req, header = self._split(doc)
        except (etree.XMLSyntaxError, EwsError) as exc:
            msg = (
                exc.message
                if isinstance(exc, EwsError)
                else f"The request failed schema validation: {exc}"
            )
            self._xml(500, soap_fault("ErrorSchemaValidation", msg))
            return
        op = local(req.tag)
        ctx = Ctx(caller=caller[0], app=caller[1], operation=op)
        account_key = ctx.caller
        try:
            self._check_header(ctx, header)
            beh.enter(account_key)
        except EwsError as err:
            beh.count(account_key, ctx.mailbox or ctx.acting, op, err.code)
            self._xml(500, soap_fault(err.code, err.message, err.values))
            return
        try:
            beh.delay()  # inside the concurrency window: it stands for server processing time
            self._dispatch(ctx, op, req)
        finally:
            beh.leave(account_key)
            beh.count(account_key, ctx.mailbox or ctx.acting, op)

    def _dispatch(self, ctx: Ctx, op: str, req: etree._Element) -> None:
        srv = self.server
        handler = srv.ops.handlers.get(op)
        if handler is None:
            self._xml(
                500,
                soap_fault(
                    "ErrorInvalidOperation",
                    f"The operation '{op}' is not supported by this Exchange emulator.",
                ),
            )
            return
        try:
            srv.behaviour.scheduled_failure(op)
        except HttpFailure as f:
            self._http_failure(f)
            return
        except EwsError as err:
            if err.code == "ErrorServerBusy":
                self._xml(
                    500,
                    soap_fault(
                        err.code, err.message, err.values or {"BackOffMilliseconds": "1000"}
                    ),
                )
                return
            resp, msgs = srv.ops.response(op)
            container = next((c for c in children(req) if local(c.tag) in LIST_CONTAINERS), None)
            for _ in range(max(1, len(children(container)))):
                srv.ops.error(msgs, op, err)
            self._xml(200, serialize(envelope(resp)[0]))
            return
        ctx.refusals = srv.behaviour.refusals_for(op)
        try:
            with srv.store.lock:
                resp = handler(ctx, req)
                if op in MUTATING:
                    srv.store.save()
        except EwsError as err:
            self._xml(500, soap_fault(err.code, err.message, err.values))
            return
        except Exception as exc:  # noqa: BLE001 - never leak a stack trace to the client
            self._xml(
                500,
                soap_fault("ErrorInternalServerError", f"{op} failed: {type(exc).__name__}: {exc}"),
            )
            return
        self._xml(200, serialize(envelope(resp)[0]))

    def _http_failure(self, f: HttpFailure) -> None:
        if f.status is None:
            self._drop()
        else:
            self._send(f.status, f.body, "text/html", {"Retry-After": "1"})

    def _authenticate(self) -> tuple[str, App | None] | None:
        """(caller, app) from Basic or Bearer credentials, or None."""
        auth = self.headers.get("Authorization") or ""
        scheme, _, value = auth.partition(" ")
        store = self.server.store
        if scheme.lower() == "basic":
            try:
                user, _, pw = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            with store.lock:
                acct = store.account(user.split("\\")[-1])
            if acct is None or not secrets.compare_digest(acct["password"], pw):
                return None
            return acct["email"], None
        if scheme.lower() == "bearer":
            with store.lock:
                tok = store.tokens.get(value.strip())
                if tok is None or tok["expires"] < time.time():
                    return None
                app = store.apps.get(tok["app"])
            if app is None:
                return None
            return f"app:{app.client_id}", app
        return None

    @staticmethod
    def _split(doc: etree._Element) -> tuple[etree._Element, etree._Element | None]:
        if doc.tag != f"{{{SOAP}}}Envelope":
            raise EwsError("ErrorSchemaValidation", "The request is not a SOAP 1.1 envelope.")
        body = doc.find(f"{{{SOAP}}}Body")
        if body is None or not children(body):
            raise EwsError("ErrorSchemaValidation", "The SOAP envelope has no Body content.")
        return children(body)[0], doc.find(f"{{{SOAP}}}Header")

    def _check_header(self, ctx: Ctx, header: etree._Element | None) -> None:
        version_el = child(header, "RequestServerVersion")
        if version_el is not None and version_el.get("Version") not in KNOWN_API_VERSIONS:
            raise EwsError("ErrorInvalidServerVersion", "The specified server version is invalid.")
        imp = child(header, "ExchangeImpersonation", "ConnectingSID")
        store = self.server.store
        if imp is None:
            if ctx.app is not None and ctx.operation not in ("ConvertId", "ResolveNames"):
                raise EwsError(
                    "ErrorInvalidExchangeImpersonationHeaderData",
                    "ExchangeImpersonation SOAP header must be present for this type of OAuth "
                    "token.",
                )
            return
        target = next((c.text.strip() for c in children(imp) if c.text and c.text.strip()), "")
        with store.lock:
            acct = store.account(target)
            if acct is None:
                raise EwsError(
                    "ErrorNonExistentMailbox",
                    f"The SMTP address has no mailbox associated with it: {target}",
                )
            email = acct["email"]
            if ctx.app is not None:
                if email.lower() not in {mb.lower() for mb in ctx.app.mailboxes}:
                    raise EwsError(
                        "ErrorAccessDenied",
                        f"The application is not granted access to the mailbox {email}.",
                    )
            elif (
                email.lower() != ctx.caller.lower()
                and store.find_grant(email, ctx.caller, "impersonation") is None
            ):
                raise EwsError(
                    "ErrorImpersonateUserDenied",
                    "The account does not have permission to impersonate the requested user.",
                )
        ctx.impersonated = email
        ctx.mailbox = email

    # --- OAuth2 -------------------------------------------------------------------------------
    def _token(self, tenant: str, body: bytes) -> None:
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode(errors="replace")).items()}
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            form.setdefault("client_id", urllib.parse.unquote(cid))
            form.setdefault("client_secret", urllib.parse.unquote(secret))
        if form.get("grant_type") != "client_credentials":
            self._json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "AADSTS70003: only client_credentials is supported.",
                },
            )
            return
        if not (form.get("scope") or "").endswith("/.default"):
            self._json(
                400,
                {
                    "error": "invalid_scope",
                    "error_description": "AADSTS1002012: The provided value for scope is not "
                    "valid; use <resource>/.default.",
                },
            )
            return
        store = self.server.store
        with store.lock:
            app = store.apps.get(f"{tenant}:{form.get('client_id', '')}")
            if app is None:
                self._json(
                    400,
                    {
                        "error": "unauthorized_client",
                        "error_description": "AADSTS700016: Application not found in directory.",
                    },
                )
                return
            if not secrets.compare_digest(app.client_secret, form.get("client_secret", "")):
                self._json(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret provided.",
                    },
                )
                return
            token = secrets.token_urlsafe(32)
            store.tokens[token] = {
                "app": f"{tenant}:{app.client_id}",
                "expires": time.time() + TOKEN_LIFETIME_S,
            }
        self._json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_S,
                "ext_expires_in": TOKEN_LIFETIME_S,
                "access_token": token,
            },
        )

    # --- control API --------------------------------------------------------------------------
    def _control(self, method: str, path: urllib.parse.SplitResult, body: bytes) -> None:
        try:
            data = json.loads(body) if body else {}
            status, result = self._control_route(method, path, data)
        except (KeyError, ValueError, TypeError) as exc:
            status, result = 400, {"error": f"{type(exc).__name__}: {exc}"}
        self._json(status, result)

    def _control_route(
        self, method: str, path: urllib.parse.SplitResult, data: dict
    ) -> tuple[int, Any]:
        srv = self.server
        store, beh = srv.store, srv.behaviour
        parts = [urllib.parse.unquote(p) for p in path.path.split("/")[2:] if p]
        query = urllib.parse.parse_qs(path.query)
        route = (method, tuple(parts[:1]))
        with store.lock:
            if route == ("GET", ("health",)):
                return 200, {"ok": True}
            if route == ("POST", ("accounts",)):
                store.add_account(data["email"], data["password"])
                store.save()
                return 200, {"email": data["email"]}
            if route == ("GET", ("accounts",)):
                return 200, [a["email"] for a in store.accounts.values()]
            if route == ("POST", ("grants",)):
                kind = data.get("kind", "delegate")
                role = data.get("calendar_role", "Editor")
                if kind not in ("delegate", "impersonation") or role not in (
                    "Editor",
                    "Reviewer",
                    "None",
                ):
                    return 400, {
                        "error": "kind: delegate|impersonation; calendar_role: Editor|Reviewer|None"
                    }
                for who in (data["owner"], data["grantee"]):
                    if store.account(who) is None:
                        return 404, {"error": f"unknown account {who}"}
                store.grant(Grant(data["owner"], data["grantee"], kind, role))
                store.save()
                return 200, {"ok": True}
            if route == ("POST", ("apps",)):
                app = App(
                    data["tenant"],
                    data["client_id"],
                    data["client_secret"],
                    list(data.get("mailboxes", [])),
                )
                store.apps[f"{app.tenant}:{app.client_id}"] = app
                store.save()
                return 200, {"token_url": f"/{app.tenant}/oauth2/v2.0/token"}
            if (
                method == "GET"
                and parts[:1] == ["mailboxes"]
                and len(parts) == 3
                and parts[2] == "items"
            ):
                acct = store.account(parts[1])
                if acct is None:
                    return 404, {"error": f"unknown mailbox {parts[1]}"}
                include_deleted = (query.get("include_deleted") or ["1"])[0] not in ("0", "false")
                items = [
                    item_json(i)
                    for i in sorted(store.items.values(), key=lambda i: i.created)
                    if i.mailbox.lower() == parts[1].lower()
                    and (include_deleted or i.folder == "calendar")
                ]
                return 200, items
            if route == ("GET", ("counters",)):
                return 200, beh.counter_report()
            if (method, tuple(parts)) in (
                ("POST", ("counters", "reset")),
                ("DELETE", ("counters",)),
            ):
                beh.reset_counters()
                return 200, {"ok": True}
            if route == ("POST", ("faults",)):
                beh.set_faults(data)
                return 200, beh.snapshot()
            if route == ("GET", ("faults",)):
                return 200, beh.snapshot()
            if route == ("POST", ("throttling",)):
                beh.set_throttling(data)
                return 200, beh.snapshot()
            if route == ("POST", ("reset",)):
                keep = bool(data.get("keep_accounts"))
                saved = (store.accounts, store.grants, store.apps)
                store.clear()
                if keep:
                    store.accounts, store.grants, store.apps = saved
                beh.set_faults({"clear": True})
                beh.set_throttling({"clear": True})
                beh.reset_counters()
                store.save()
                return 200, {"ok": True}
        return 404, {"error": f"no control endpoint {method} {path.path}"}


def item_json(item: Item) -> dict[str, Any]:
    """An item as the control API shows it."""
    body = item.props.get("Body")
    cats = item.props.get("Categories")
    return {
        "id": item.id,
        "change_key": item.change_key,
        "folder": item.folder,
        "deleted": item.folder != "calendar",
        "deleted_how": item.deleted_how,
        "calendar_item_type": "RecurringMaster" if item.is_recurring else "Single",
        "subject": item.subject,
        "start": item.text("Start"),
        "end": item.text("End"),
        "is_all_day": item.is_all_day,
        "location": item.text("Location"),
        "body": body.text if body is not None else None,
        "body_type": body.get("BodyType") if body is not None else None,
        "show_as": item.text("LegacyFreeBusyStatus") or "Busy",
        "sensitivity": item.text("Sensitivity") or "Normal",
        "categories": [c.text for c in cats] if cats is not None else [],
        "reminder_is_set": item.text("ReminderIsSet") in ("true", "1")
        if item.text("ReminderIsSet")
        else True,
        "reminder_minutes_before_start": int(item.text("ReminderMinutesBeforeStart") or 15),
        "is_cancelled": item.text("IsCancelled") in ("true", "1"),
        "start_time_zone": item.props["StartTimeZone"].get("Id")
        if "StartTimeZone" in item.props
        else None,
        "recurrence": etree.tostring(item.props["Recurrence"]).decode()
        if item.is_recurring
        else None,
        "occurrence_count": len(occurrences(item))
        if item.is_recurring and _bounded(item)
        else None,
        "modified_occurrences": sorted(item.exceptions),
        "deleted_occurrences": sorted(item.deleted_occurrences),
        "extended_properties": item.ext_values(),
        "created": item.created.isoformat(),
        "last_modified": item.modified.isoformat(),
    }


def _bounded(item: Item) -> bool:
    rec = item.props.get("Recurrence")
    return rec is not None and any(local(c.tag) != "NoEndRecurrence" for c in children(rec)[1:])
