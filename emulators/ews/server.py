"""The HTTP side: EWS endpoint, OAuth2 token endpoint and the /_control/ JSON API."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import secrets
import select
import socket
import ssl
import time
import urllib.parse
from typing import Any

from lxml import etree

from emulators.common.http import EmulatorHttpServer, QuietHandler

from .behaviour import Behaviour, RequestLogEntry
from .control_api import handle_control
from .errors import EwsError, HttpFailure
from .model import App, Store, parse_folder_id
from .oauth import issue_token
from .ops import Ctx, Operations
from .push import Pusher
from .schema import EwsSchema, Violation, report
from .streaming import (
    MAILBOX_SERVER,
    OpenStreams,
    chunk,
    stream,
    streaming_budget,
    streaming_request,
)
from .xmlutil import (
    SOAP,
    child,
    children,
    envelope,
    local,
    m,
    parse,
    serialize,
    soap_fault,
    t,
    text_of,
)

EWS_PATH = "/ews/exchange.asmx"
MUTATING = {"CreateItem", "UpdateItem", "DeleteItem"}
LIST_CONTAINERS = ("Items", "ItemIds", "ItemChanges", "FolderIds", "ParentFolderIds", "SourceIds")
KNOWN_API_VERSIONS = {
    "Exchange2007", "Exchange2007_SP1", "Exchange2010", "Exchange2010_SP1", "Exchange2010_SP2",
    "Exchange2013", "Exchange2013_SP1", "Exchange2015", "Exchange2016", "Exchange2019",
}  # fmt: skip
TOKEN_LIFETIME_S = 3599


class EwsHttpServer(EmulatorHttpServer):
    """The EWS emulator's server: holds its store, behaviour and operations."""

    name = "EWS emulator"

    def __init__(
        self,
        address: tuple[str, int],
        store: Store,
        behaviour: Behaviour,
        ssl_context: ssl.SSLContext | None = None,
        schema: EwsSchema | None = None,
    ):
        self.store = store
        self.behaviour = behaviour
        self.schema = schema
        self.ops = Operations(store)
        # What the emulator pushes to subscribers is held to the schema as its answers are.
        self.ops.pusher = Pusher(self.ops, store.lock, lambda sent: self.check("response", sent))
        self.streams = OpenStreams()
        super().__init__(address, Handler, ssl_context)

    def check(self, direction: str, message: etree._Element) -> Violation | None:
        """The schema's complaint about `message`, recorded and reported; None if it is valid
        (or the server has no schema)."""
        found = self.schema.problem(message) if self.schema is not None else None
        if found is None:
            return None
        violation = Violation(direction, local(message.tag), *found)
        self.behaviour.record_violation(violation.__dict__)
        report(violation)
        return violation

    def server_close(self) -> None:
        self.ops.pusher.stop()
        super().server_close()


class Handler(QuietHandler):
    """One HTTP request."""

    server: EwsHttpServer
    _log: RequestLogEntry  # the request-log entry of the EWS request being answered
    _log_pending = False  # `_log` is not in the request log yet
    # The admitted request's concurrency window, until settled: (account key, context, operation).
    _unsettled: tuple[str, Ctx, str] | None = None
    server_version = "Microsoft-IIS/10.0"

    # --- plumbing -----------------------------------------------------------------------------
    def _send(
        self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        # Settle before answering: a client that has its answer must find it counted and logged.
        self._settle()
        self._flush_log()
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
        self._settle()
        self._flush_log()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        """Control API reads; a plain answer on the EWS URL."""
        path = urllib.parse.urlsplit(self.path)
        if path.path.startswith("/_control/"):
            self._control("GET", path, b"")
        elif path.path.lower() == EWS_PATH:
            self._send(200, b"EWS emulator", "text/plain")
        else:
            self._send(404, b"Not found", "text/plain")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        """EWS SOAP, the control API and the OAuth2 token endpoint."""
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
        """Control API deletions."""
        self._body()
        self._control("DELETE", urllib.parse.urlsplit(self.path), b"")

    # --- EWS ----------------------------------------------------------------------------------
    def _ews(self, body: bytes) -> None:
        # One request-log entry per EWS request; `t` is when it arrived (body read), on the
        # emulator process's time.monotonic() clock.
        self._log_pending = True
        self._log = {
            "t": time.monotonic(),
            "utc": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
            "account": None,
            "mailbox": None,
            "operation": None,
            "response_code": None,
            "items": 0,
            "item_errors": {},
            "back_off_ms": None,
        }
        try:
            self._ews_request(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            self._log["response_code"] = self._log["response_code"] or "dropped"
        except Exception as exc:  # noqa: BLE001 - never leak a stack trace to the client
            self._fault("ErrorInternalServerError", f"Request failed: {type(exc).__name__}: {exc}")
        finally:
            self._flush_log()  # requests answered without a body (dropped connections)

    def _flush_log(self) -> None:
        """Record the current EWS request in the request log, once."""
        if self._log_pending:
            self._log_pending = False
            self.server.behaviour.log_request(self._log)

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
            bearer = (self.headers.get("Authorization") or "").lower().startswith("bearer ")
            challenge = 'Bearer error="invalid_token"' if bearer else 'Basic realm="127.0.0.1"'
            self._log["response_code"] = "HTTP 401"
            self._send(401, b"", "text/html", {"WWW-Authenticate": challenge})
            return
        self._log["account"] = caller[0]
        try:
            doc = parse(body)
            req, header = self._split(doc)
        except (etree.XMLSyntaxError, EwsError) as exc:
            msg = (
                exc.message
                if isinstance(exc, EwsError)
                else f"The request failed schema validation: {exc}"
            )
            self._fault("ErrorSchemaValidation", msg)
            return
        op = local(req.tag)
        self._log["operation"] = op
        invalid = self.server.check("request", req)
        if invalid is not None:
            # Exchange checks a request against its schema before anything else reads it.
            self._fault(
                "ErrorSchemaValidation",
                f"The request failed schema validation: {invalid.problem}",
                {"LineNumber": str(invalid.line), "LinePosition": "0",
                 "Violation": invalid.problem},
            )  # fmt: skip
            return
        ctx = Ctx(caller=caller[0], app=caller[1], operation=op, refuse=beh.refuse_item)
        account_key = ctx.caller
        if op == "GetStreamingEvents":
            self._stream(ctx, req, header)
            return
        try:
            self._check_header(ctx, header)
            beh.enter(account_key)
        except EwsError as err:
            mailbox = ctx.mailbox or self._addressed_mailbox(req) or ctx.acting
            self._log["mailbox"] = mailbox
            beh.count(account_key, mailbox, op, err.code)
            self._fault(err.code, err.message, err.values)
            return
        self._unsettled = (account_key, ctx, op)
        try:
            beh.delay()  # inside the concurrency window: it stands for server processing time
            self._dispatch(ctx, op, req)
        finally:
            self._settle()

    def _stream(self, ctx: Ctx, req: etree._Element, header: etree._Element | None) -> None:
        """GetStreamingEvents (see streaming.py): a chunked answer of envelopes."""
        srv = self.server
        beh = srv.behaviour
        try:
            self._check_header(ctx, header)
            with srv.store.lock:
                subscriptions, minutes = streaming_request(srv.ops, ctx, req)
            budget = streaming_budget(ctx)
            if not srv.streams.open(budget, beh.hanging_connection_limit):
                raise EwsError(
                    "ErrorExceededConnectionCount",
                    "You have exceeded the available concurrent connections for your account.",
                )
        except EwsError as err:
            resp, msgs = srv.ops.response("GetStreamingEvents")
            srv.ops.error(msgs, "GetStreamingEvents", err)
            beh.count(ctx.caller, ctx.mailbox or ctx.acting, "GetStreamingEvents", err.code)
            self._answer(resp)
            return
        self._log.update({"mailbox": subscriptions[0].mailbox if subscriptions else None,
                          "response_code": "NoError"})  # fmt: skip
        beh.count(ctx.caller, self._log["mailbox"] or ctx.acting, "GetStreamingEvents")
        self._flush_log()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(resp: etree._Element) -> None:
            self.server.check("response", resp)
            self.wfile.write(chunk(resp))
            self.wfile.flush()

        def hung_up() -> bool:
            # A closed connection reads as end of file; a client sends nothing else meanwhile.
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)

        seconds = minutes * beh.streaming_minute_s
        try:
            stream(srv.ops, srv.store.lock, subscriptions, seconds, send, hung_up)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client hung up (exchangelib does after max notifications)
            self.close_connection = True
        finally:
            srv.streams.close(budget)

    def _settle(self) -> None:
        """Close the request's concurrency window and count it, once, before it is answered:
        a client that has its answer may send the next request or read the counters."""
        unsettled = self._unsettled
        if unsettled is None:
            return
        self._unsettled = None
        account_key, ctx, op = unsettled
        behaviour = self.server.behaviour
        behaviour.leave(account_key)
        self._log["mailbox"] = ctx.mailbox or ctx.acting
        behaviour.count(account_key, ctx.mailbox or ctx.acting, op)

    def _addressed_mailbox(self, req: etree._Element) -> str | None:
        """The mailbox a request addresses (first folder or item it names), without access checks.

        Only for accounting requests refused before the operation ran (throttling).
        """
        store = self.server.store
        with store.lock:
            for el in req.iter(t("DistinguishedFolderId"), t("FolderId"), t("ItemId")):
                kind = local(el.tag)
                if kind == "DistinguishedFolderId":
                    found = text_of(el, "Mailbox", "EmailAddress")
                elif kind == "FolderId":
                    parsed = parse_folder_id(el.get("Id", ""))
                    found = parsed[0] if parsed else None
                else:
                    item = store.items.get(el.get("Id", ""))
                    found = item.mailbox if item else None
                acct = store.account(found) if found else None
                if acct is not None:
                    return acct["email"]
        return None

    def _dispatch(self, ctx: Ctx, op: str, req: etree._Element) -> None:
        srv = self.server
        handler = srv.ops.handlers.get(op)
        if handler is None:
            self._fault(
                "ErrorInvalidOperation",
                f"The operation '{op}' is not supported by this Exchange emulator.",
            )
            return
        try:
            srv.behaviour.scheduled_failure(op)
        except HttpFailure as f:
            self._http_failure(f)
            return
        except EwsError as err:
            if err.code == "ErrorServerBusy":
                self._fault(err.code, err.message, err.values or {"BackOffMilliseconds": "1000"})
                return
            resp, msgs = srv.ops.response(op)
            container = next((c for c in children(req) if local(c.tag) in LIST_CONTAINERS), None)
            for _ in range(max(1, len(children(container)))):
                srv.ops.error(msgs, op, err)
            self._answer(resp)
            return
        try:
            with srv.store.lock:
                resp = handler(ctx, req)
                if op in MUTATING:
                    srv.store.save()
        except EwsError as err:
            self._fault(err.code, err.message, err.values)
            return
        except Exception as exc:  # noqa: BLE001 - never leak a stack trace to the client
            self._fault("ErrorInternalServerError", f"{op} failed: {type(exc).__name__}: {exc}")
            return
        self._answer(resp)

    def _answer(self, resp: etree._Element) -> None:
        """Send a 200 answer; log the request as NoError or its first item error code."""
        errors: dict[str, int] = {}
        back_off: int | None = None
        messages = children(resp[0]) if len(resp) else []
        for msg in messages:
            code = text_of(msg, "ResponseCode") or "NoError"
            if code != "NoError":
                errors[code] = errors.get(code, 0) + 1
                ms = _back_off_ms(msg.find(m("MessageXml")))
                if ms is not None:
                    back_off = max(back_off or 0, ms)
        self._log.update(
            {
                "response_code": next(iter(errors), "NoError"),
                "items": len(messages),
                "item_errors": errors,
                "back_off_ms": back_off,
            }
        )
        self.server.check("response", resp)
        self._send(200, serialize(envelope(resp)[0]), "text/xml; charset=utf-8", self._affinity())

    def _affinity(self) -> dict[str, str]:
        """The X-BackEndOverrideCookie a Subscribe asking for server affinity gets (Microsoft's
        "Maintain affinity between a group of subscriptions and the Mailbox server"). The
        emulator is one Mailbox server, so every group's cookie names it; a client sends it
        back with the group's later requests, and GetStreamingEvents groups any of the
        caller's subscriptions."""
        wants = self.headers.get("X-PreferServerAffinity", "").strip().lower() == "true"
        if not wants or self._log.get("operation") != "Subscribe":
            return {}
        return {"Set-Cookie": f"X-BackEndOverrideCookie={MAILBOX_SERVER}; path=/; secure"}

    def _fault(self, code: str, message: str, values: dict[str, str] | None = None) -> None:
        """Answer with HTTP 500 and a SOAP fault carrying an EWS response code."""
        ms = (values or {}).get("BackOffMilliseconds")
        self._log.update({"response_code": code, "back_off_ms": int(ms) if ms else None})
        self._xml(500, soap_fault(code, message, values))

    def _http_failure(self, f: HttpFailure) -> None:
        self._log["response_code"] = "dropped" if f.status is None else f"HTTP {f.status}"
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
        status, result = issue_token(
            self.server.store, tenant, body, self.headers.get("Authorization")
        )
        self._json(status, result)

    # --- control API --------------------------------------------------------------------------
    def _control(self, method: str, path: urllib.parse.SplitResult, body: bytes) -> None:
        try:
            data = json.loads(body) if body else {}
            status, result = handle_control(
                self.server.store, self.server.behaviour, method, path, data
            )
        except (KeyError, ValueError, TypeError) as exc:
            status, result = 400, {"error": f"{type(exc).__name__}: {exc}"}
        self._json(status, result)


def _back_off_ms(message_xml: etree._Element | None) -> int | None:
    """BackOffMilliseconds of a response message's MessageXml, if it has one."""
    for value in message_xml.iter(t("Value")) if message_xml is not None else ():
        if value.get("Name") == "BackOffMilliseconds" and (value.text or "").isdigit():
            return int(value.text)
    return None
