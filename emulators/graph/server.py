"""The HTTP(S) server: identity platform, Graph v1.0 (with `$batch`) and the control API."""

from __future__ import annotations

import json
import ssl
import threading
import urllib.parse
from collections import Counter
from typing import Any

from emulators.common.http import EmulatorHttpServer, QuietHandler

from .api import Api, Caller, GraphError, Reply, error_body
from .behaviour import Behaviour, FaultAnswer, Throttle
from .control import route_control
from .model import Store
from .tokens import Issuer, TokenError

MAX_BATCH = 20


class Stats:
    """Request counters: total, by app (client id or user), by mailbox and by operation."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero everything."""
        with self.lock:
            self.total = 0
            self.by_app: Counter[str] = Counter()
            self.by_mailbox: Counter[str] = Counter()  # lower case
            self.by_operation: Counter[str] = Counter()
            self.subrequests: Counter[str] = Counter()  # by operation
            self.by_status: Counter[str] = Counter()  # by status code as text
            self.throttled: Counter[str] = Counter()  # 429s by lower-case mailbox

    def request(self, app: str | None, operation: str) -> None:
        """Count one HTTP request."""
        with self.lock:
            self.total += 1
            self.by_operation[operation] += 1
            if app:
                self.by_app[app] += 1

    def touched(self, mailbox: str | None, operation: str, status: int, sub: bool) -> None:
        """Count a (sub-)request's effect on a mailbox."""
        with self.lock:
            if mailbox:
                self.by_mailbox[mailbox.lower()] += 1
                if status == 429:
                    self.throttled[mailbox.lower()] += 1
            if sub:
                self.subrequests[operation] += 1
            self.by_status[str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON."""
        with self.lock:
            return {
                "total": self.total,
                "by_app": dict(self.by_app),
                "by_mailbox": dict(self.by_mailbox),
                "by_operation": dict(self.by_operation),
                "subrequests": dict(self.subrequests),
                "by_status": dict(self.by_status),
                "throttled": dict(self.throttled),
            }


class GraphHttpServer(EmulatorHttpServer):
    """The Graph stand-in's HTTPS server: holds its store, behaviour, API, issuer and stats."""

    name = "Graph emulator"

    def __init__(
        self,
        address: tuple[str, int],
        store: Store,
        behaviour: Behaviour,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.store = store
        self.behaviour = behaviour
        self.api = Api(store, behaviour)
        self.issuer = Issuer(store)
        self.stats = Stats()
        super().__init__(address, Handler, ssl_context)


class Handler(QuietHandler):
    """One HTTP request."""

    server: GraphHttpServer
    server_version = "Microsoft-HTTPAPI/2.0"

    # A scheduled fault with `drop`: the request is carried out, its answer never sent.
    drop_answer = False

    # --- plumbing -----------------------------------------------------------------------------
    def _send(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        if self.drop_answer:
            self.drop_connection()
            return
        body = b"" if data is None else json.dumps(data).encode()
        self.send_response(status)
        if data is not None:
            self.send_header(
                "Content-Type", "application/json; odata.metadata=minimal; charset=utf-8"
            )
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("POST")

    def do_PATCH(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        body = self._body()
        path = url.path
        if path.startswith("/_control/"):
            status, data = route_control(self.server, method, url, body)
            self._send(status, data)
        elif path.startswith("/v1.0/") or path == "/v1.0":
            self._graph(method, url, body)
        elif path.endswith("/v2.0/.well-known/openid-configuration") and method == "GET":
            tenant = path.strip("/").split("/")[0]
            self.server.stats.request(None, "openid-configuration")
            if not self.server.store.has_tenant(tenant):
                err = TokenError(
                    400,
                    "invalid_tenant",
                    f"AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the "
                    "correct tenant ID and are signing into the correct cloud.",
                )
                self._send(err.status, err.body())
                return
            self._send(200, self.server.issuer.openid_configuration(self.server.base_url, tenant))
        elif path.endswith("/oauth2/v2.0/token") and method == "POST":
            self._token(path.strip("/").split("/")[0], body)
        else:
            self._send(404, error_body("NotFound", f"No resource at {path}."))

    def _token(self, tenant: str, body: bytes) -> None:
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        self.server.stats.request(
            (form.get("client_id") or form.get("username") or [""])[-1], "token"
        )
        try:
            answer = self.server.issuer.token(
                tenant, body, self.headers.get("Authorization"), self.server.base_url
            )
        except TokenError as err:
            self._send(err.status, err.body())
            return
        self._send(200, answer, {"Cache-Control": "no-store"})

    # --- Graph --------------------------------------------------------------------------------
    def _caller(self) -> Caller:
        auth = self.headers.get("Authorization") or ""
        if not auth.lower().startswith("bearer "):
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        claims = self.server.issuer.claims(auth[7:].strip())
        if claims is None:
            raise GraphError(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
        if claims.get("_expired"):
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
        if claims.get("upn"):
            return Caller(claims["upn"], claims["tid"], frozenset(), user=claims["upn"])
        return Caller(claims["appid"], claims["tid"], frozenset(claims.get("roles") or ()))

    def _graph(self, method: str, url: urllib.parse.SplitResult, body: bytes) -> None:
        server = self.server
        rel = url.path[len("/v1.0") :] or "/"
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            caller = self._caller()
        except GraphError as err:
            server.stats.request(None, "unauthenticated")
            server.stats.touched(None, "unauthenticated", err.status, False)
            self._send(err.status, err.body(), {"WWW-Authenticate": 'Bearer realm=""'})
            return
        scheduled = server.behaviour.scheduled(method, url.path)
        fault: FaultAnswer | None = scheduled
        if scheduled is None and server.behaviour.random_failure():
            fault = {"status": 500, "code": None, "retry_after": None}
        elif scheduled is not None and scheduled["drop"]:
            self.drop_answer, fault = True, None
        if rel.strip("/") == "$batch" and method == "POST":
            server.stats.request(caller.name, "$batch")
            if fault:
                self._fault(fault)
                return
            self._batch(caller, body)
            return
        mailbox = server.api.mailbox_of(caller, rel)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        if fault:
            server.stats.request(caller.name, "fault")
            self._fault(fault)
            return
        try:
            payload = json.loads(body) if body else None
        except json.JSONDecodeError:
            self._send(400, error_body("BadRequest", "Unable to read JSON request payload."))
            return
        op, reply = self._one(caller, method, rel, query, headers, payload, mailbox, sub=False)
        server.stats.request(caller.name, op)
        self._send(reply.status, reply.body, reply.headers)

    def _fault(self, fault: FaultAnswer) -> None:
        status = fault["status"]
        codes = {429: "TooManyRequests", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
        code = fault.get("code") or codes.get(status, "generalException")
        extra = {"Retry-After": str(fault["retry_after"])} if fault.get("retry_after") else {}
        self._send(status, error_body(code, "Injected failure."), extra)

    def _one(
        self,
        caller: Caller,
        method: str,
        rel: str,
        query: dict[str, str],
        headers: dict[str, str],
        payload: Any,
        mailbox: str | None,
        sub: bool,
        admitted: bool = False,
    ) -> tuple[str, Reply]:
        """One request to a mailbox: throttling and concurrency first, then the operation."""
        behaviour = self.server.behaviour
        throttle: Throttle | None = None
        if mailbox:
            throttle = behaviour.throttled(mailbox)
            if throttle is None and not admitted:
                throttle = behaviour.enter(caller.name, mailbox)
                entered = throttle is None
            else:
                entered = False
        if throttle is not None:
            reply = Reply(
                429,
                error_body(throttle.code, throttle.message),
                {"Retry-After": str(throttle.retry_after)},
            )
            op = "throttled"
        else:
            try:
                if not sub:
                    behaviour.delay()  # inside the in-flight window, as a slow server would be
                op, reply = self.server.api.handle(
                    caller, method, rel, query, headers, payload, self.server.base_url + "/v1.0"
                )
            finally:
                if mailbox and entered:
                    behaviour.leave(caller.name, mailbox)
        self.server.stats.touched(mailbox, op, reply.status, sub)
        return op, reply

    def _batch(self, caller: Caller, body: bytes) -> None:
        try:
            doc = json.loads(body or b"{}")
            requests = doc["requests"]
            assert isinstance(requests, list)
        except (json.JSONDecodeError, KeyError, AssertionError):
            self._send(400, error_body("BadRequest", "Invalid batch payload format."))
            return
        if len(requests) > MAX_BATCH:
            self._send(
                400,
                error_body("BadRequest", f"Number of requests exceeds the maximum of {MAX_BATCH}."),
            )
            return
        ids = [str(r.get("id")) for r in requests]
        if len(set(ids)) != len(ids):
            self._send(400, error_body("BadRequest", "Batch request ids must be unique."))
            return
        try:
            answers = self._run_batch(caller, requests)
        except GraphError as err:
            self._send(err.status, err.body())
            return
        self._send(200, {"responses": answers})

    def _run_batch(self, caller: Caller, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run sub-requests: independent ones in parallel lanes, `dependsOn` chains in sequence.

        Like Graph, it dispatches independent requests to the same mailbox concurrently, so
        lanes beyond the mailbox's concurrency limit (4) are answered 429; a request whose
        dependency failed is answered 424.
        """
        behaviour = self.server.behaviour
        status_of: dict[str, int] = {}
        lanes: dict[str, str] = {}  # request id -> lane id
        lane_box: dict[str, str | None] = {}
        parsed = []
        for r in requests:
            rid = str(r.get("id"))
            url = urllib.parse.urlsplit("/" + str(r.get("url", "")).lstrip("/"))
            rel = url.path.removeprefix("/v1.0")
            deps = [str(d) for d in r.get("dependsOn") or []]
            if any(d not in lanes for d in deps):
                raise GraphError(
                    400, "BadRequest", f"Request {rid} depends on an unknown or later request."
                )
            lanes[rid] = lanes[deps[0]] if deps else rid
            mailbox = self.server.api.mailbox_of(caller, rel)
            lane_box.setdefault(lanes[rid], mailbox)
            parsed.append((rid, r, url, rel, deps, mailbox))
        # Admit lanes per mailbox: what the mailbox's concurrency limit leaves free.
        per_box: dict[str, list[str]] = {}
        for lane, box in lane_box.items():
            if box:
                per_box.setdefault(box.lower(), []).append(lane)
        admitted: set[str] = set()
        held: list[str] = []
        for box, box_lanes in per_box.items():
            for lane in box_lanes:
                if behaviour.enter(caller.name, box) is None:
                    admitted.add(lane)
                    held.append(box)
        answers = []
        try:
            behaviour.delay()
            for rid, r, url, rel, deps, mailbox in parsed:
                headers = {k.lower(): str(v) for k, v in (r.get("headers") or {}).items()}
                lane = lanes[rid]
                if any(status_of[d] >= 400 for d in deps):
                    status_of[rid] = 424
                    answers.append(
                        {
                            "id": rid,
                            "status": 424,
                            "headers": {},
                            "body": error_body(
                                "FailedDependency", "The request depends on a request that failed."
                            ),
                        }
                    )
                    self.server.stats.touched(mailbox, "failedDependency", 424, True)
                    continue
                if mailbox and lane not in admitted:
                    reply = Reply(
                        429,
                        error_body(
                            "ApplicationThrottled",
                            "Application is over its MailboxConcurrency limit.",
                        ),
                        {"Retry-After": str(behaviour.retry_after)},
                    )
                    self.server.stats.touched(mailbox, "throttled", 429, True)
                else:
                    query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
                    method = str(r.get("method", "GET")).upper()
                    _, reply = self._one(
                        caller,
                        method,
                        rel,
                        query,
                        headers,
                        r.get("body"),
                        mailbox,
                        True,
                        admitted=True,
                    )
                status_of[rid] = reply.status
                answer: dict[str, Any] = {
                    "id": rid,
                    "status": reply.status,
                    "headers": dict(reply.headers or {}),
                }
                if reply.body is not None:
                    answer["headers"]["Content-Type"] = "application/json"
                    answer["body"] = reply.body
                answers.append(answer)
        finally:
            for box in held:
                behaviour.leave(caller.name, box)
        return answers
