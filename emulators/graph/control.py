"""The `/_control/` JSON API (server side) and its Python client (stdlib only)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from emulators.common.control import BaseControlClient, ControlError

from .model import App, Store

if TYPE_CHECKING:  # the server module imports this one
    from .server import GraphHttpServer

__all__ = ["ControlClient", "ControlError", "route_control"]


def route_control(
    server: GraphHttpServer, method: str, url: urllib.parse.SplitResult, body: bytes
) -> tuple[int, Any]:
    """Answer one control request: (status, JSON)."""
    store, behaviour = server.store, server.behaviour
    path = url.path[len("/_control/") :].strip("/")
    query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
    try:
        data = json.loads(body) if body else {}
    except json.JSONDecodeError:
        return 400, {"error": "body is not JSON"}
    parts = [urllib.parse.unquote(p) for p in path.split("/")]
    try:
        if path == "health":
            return 200, {"ok": True}
        if path == "accounts" and method == "GET":
            return 200, sorted(a.email for a in store.accounts.values())
        if path == "accounts" and method == "POST":
            store.add_account(data["email"], data["password"], bool(data.get("mailbox", True)))
            return 200, {"ok": True}
        if path == "apps" and method == "POST":
            mailboxes = data.get("mailboxes")
            app = App(
                tenant=data["tenant"],
                client_id=data["client_id"],
                client_secret=data["client_secret"],
                roles=list(data.get("roles", ["Calendars.ReadWrite"])),
                mailboxes=None if mailboxes is None else list(mailboxes),
                entra_roles=list(data.get("entra_roles", [])),
            )
            store.add_app(app)
            return 200, {"authority": f"{server.base_url}/{app.tenant}"}
        if len(parts) == 3 and parts[0] == "mailboxes" and parts[2] == "items" and method == "GET":
            return 200, _items(store, parts[1], query.get("include_deleted", "1") == "1")
        if len(parts) == 3 and parts[0] == "mailboxes" and parts[2] == "expire-delta":
            mb = store.mailbox(parts[1])
            if mb is None:
                return 404, {"error": f"no mailbox {parts[1]}"}
            with store.lock:
                mb.delta_epoch += 1
                store.save()
            return 200, {"ok": True}
        if path == "counters" and method == "GET":
            snap = server.stats.snapshot()
            snap["concurrency_refusals"] = behaviour.counters.get("concurrency_refusals", 0)
            snap["max_inflight"] = behaviour.counters.get("max_inflight", 0)
            return 200, snap
        if path == "counters/reset" and method == "POST":
            server.stats.reset()
            behaviour.counters.clear()
            return 200, {"ok": True}
        if path == "faults" and method == "POST":
            return 200, behaviour.set_faults(data)
        if path == "throttling" and method == "POST":
            return 200, behaviour.set_throttling(data)
        if path == "tokens/revoke" and method == "POST":
            server.issuer.revoke_all()
            return 200, {"ok": True}
        if path == "settings" and method == "POST":
            if "token_lifetime" in data:
                store.token_lifetime = int(data["token_lifetime"])
            return 200, {"token_lifetime": store.token_lifetime}
        if path == "reset" and method == "POST":
            store.reset(keep_accounts=bool(data.get("keep_accounts")))
            behaviour.reset()
            server.stats.reset()
            return 200, {"ok": True}
    except (KeyError, TypeError, ValueError) as exc:
        return 400, {"error": f"bad control request: {exc!r}"}
    return 404, {"error": f"no control endpoint {method} {path}"}


def _items(store: Store, email: str, include_deleted: bool) -> list[dict[str, Any]]:
    mb = store.mailbox(email)
    if mb is None:
        return []
    with store.lock:
        evs = sorted(mb.events.values(), key=lambda e: e.get("createdDateTime") or "")
        out = []
        for ev in evs:
            folder = ev.get("_folder")
            if folder != "calendar" and not include_deleted:
                continue
            item = {k: v for k, v in ev.items() if not k.startswith("_")}
            item["folder"] = folder
            item["exceptions"] = dict(ev.get("_exceptions") or {})
            item["cancelled_occurrences"] = sorted(ev.get("_cancelled") or {})
            out.append(json.loads(json.dumps(item)))
        return out


class ControlClient(BaseControlClient):
    """The common control calls plus Graph users, apps, delta tokens and access tokens.

    Endpoints are documented in emulators/graph/README.md.
    """

    def add_account(self, email: str, password: str, mailbox: bool = True) -> None:
        """Create a user (with an Exchange Online mailbox unless mailbox=False)."""
        self._call("POST", "accounts", {"email": email, "password": password, "mailbox": mailbox})

    def add_app(
        self,
        tenant: str,
        client_id: str,
        client_secret: str,
        mailboxes: list[str] | None = None,
        roles: tuple[str, ...] | list[str] = ("Calendars.ReadWrite",),
        entra_roles: tuple[str, ...] | list[str] = (),
    ) -> str:
        """Register an app holding application permissions `roles`.

        With `mailboxes`, they come from an RBAC for Applications role assignment scoped to
        those mailboxes (not listed in tokens); with `mailboxes=None`, from Entra ID admin
        consent (every mailbox, listed in the token's `roles` claim). `entra_roles` are
        consented tenant-wide on top. Returns the authority URL (`base_url/tenant`) for msal.
        """
        res: dict[str, str] = self._call(
            "POST",
            "apps",
            {
                "tenant": tenant,
                "client_id": client_id,
                "client_secret": client_secret,
                "mailboxes": mailboxes,
                "roles": list(roles),
                "entra_roles": list(entra_roles),
            },
        )
        return res["authority"]

    def expire_delta(self, mailbox: str) -> None:
        """Invalidate every delta token of a mailbox (the next use answers 410)."""
        self._call("POST", f"mailboxes/{urllib.parse.quote(mailbox)}/expire-delta", {})

    def settings(self, **config: Any) -> dict[str, Any]:
        """Set token_lifetime (seconds) for tokens issued from now on."""
        applied: dict[str, Any] = self._call("POST", "settings", config)
        return applied

    def revoke_tokens(self) -> None:
        """Invalidate every access token issued so far (Graph answers 401 to them)."""
        self._call("POST", "tokens/revoke", {})

    def user_token(self, tenant: str, email: str, password: str) -> str:
        """An access token for a user acting on its own mailbox (password grant)."""
        form = urllib.parse.urlencode(
            {
                "grant_type": "password",
                "client_id": "outlook",
                "username": email,
                "password": password,
                "scope": "https://graph.microsoft.com/Calendars.ReadWrite",
            }
        ).encode()
        req = urllib.request.Request(
            f"{self.base_url}/{tenant}/oauth2/v2.0/token", data=form, method="POST"
        )
        answer: dict[str, Any] = json.loads(self._open(req, f"user token for {email}"))
        token: str = answer["access_token"]
        return token
