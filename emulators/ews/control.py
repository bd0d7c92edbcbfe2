"""Python client of the EWS emulator's /_control/ JSON API (stdlib only)."""

from __future__ import annotations

from typing import Any

from emulators.common.control import BaseControlClient, ControlError

__all__ = ["ControlClient", "ControlError"]


class ControlClient(BaseControlClient):
    """The common control calls plus EWS accounts, grants, apps and the request log.

    Endpoints are documented in emulators/ews/README.md.
    """

    def add_account(self, email: str, password: str, name: str | None = None) -> None:
        """Create a mailbox whose owner signs in with email + password (Basic auth); `name`
        is its display name (LastModifiedName of what it saves; by default the address'
        local part)."""
        body = {"email": email, "password": password}
        self._call("POST", "accounts", {**body, "name": name} if name else body)

    def grant(
        self, owner: str, grantee: str, kind: str = "delegate", calendar_role: str = "Editor"
    ) -> None:
        """Let grantee use owner's mailbox: delegate (Editor|Reviewer|None) or impersonation."""
        self._call(
            "POST",
            "grants",
            {"owner": owner, "grantee": grantee, "kind": kind, "calendar_role": calendar_role},
        )

    def add_app(self, tenant: str, client_id: str, client_secret: str, mailboxes: list[str]) -> str:
        """Register an OAuth2 app allowed to impersonate the listed mailboxes; returns token URL."""
        res: dict[str, str] = self._call(
            "POST",
            "apps",
            {
                "tenant": tenant,
                "client_id": client_id,
                "client_secret": client_secret,
                "mailboxes": mailboxes,
            },
        )
        return self.base_url + res["token_url"]

    def subscriptions(self) -> list[dict[str, Any]]:
        """Live notification subscriptions: id, kind (pull/streaming), owner, mailbox,
        folders, expired."""
        result: list[dict[str, Any]] = self._call("GET", "/subscriptions")
        return result

    def lose_events(self) -> int:
        """Make every subscription miss events, as a server that lost its event queue; its
        next read gets ErrorMissedNotificationEvents. Returns how many."""
        result: dict[str, int] = self._call("POST", "/subscriptions/lose-events", {})
        return result["missed"]

    def expire_subscriptions(self) -> int:
        """Expire every subscription, as if its timeout had passed; returns how many."""
        result: dict[str, int] = self._call("POST", "/subscriptions/expire", {})
        return result["expired"]

    def schema_violations(self) -> list[dict[str, Any]]:
        """Messages that did not validate against the EWS schema (when the emulator has one):
        direction (request or response), message (its element name), problem, line."""
        result: list[dict[str, Any]] = self._call("GET", "/schema-violations")
        return result

    def requests(
        self, account: str | None = None, operation: str | None = None
    ) -> list[dict[str, Any]]:
        """The request log (oldest first), optionally only one account's or operation's.

        Each entry: t (the emulator's time.monotonic() when the request arrived), utc, account,
        mailbox, operation, response_code, items, item_errors, back_off_ms (see README).
        """
        log = self._call("GET", "requests")
        return [
            r
            for r in log
            if (account is None or (r["account"] or "").lower() == account.lower())
            and (operation is None or r["operation"] == operation)
        ]
