"""Python client of the emulator's /_control/ JSON API (stdlib only)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class ControlError(RuntimeError):
    """The control API refused a call."""


class ControlClient:
    """Thin wrapper over the control endpoints documented in emulators/ews/README.md."""

    def __init__(self, base_url: str, ca_file: str | None = None, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._ssl = ssl.create_default_context(cafile=ca_file) if ca_file else None

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.base_url}/_control/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._ssl) as resp:  # noqa: S310
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise ControlError(
                f"{method} /_control/{path}: {exc.code} {exc.read().decode()}"
            ) from exc

    def health(self) -> bool:
        """True when the server answers."""
        return bool(self._call("GET", "health").get("ok"))

    def add_account(self, email: str, password: str) -> None:
        """Create a mailbox whose owner signs in with email + password (Basic auth)."""
        self._call("POST", "accounts", {"email": email, "password": password})

    def accounts(self) -> list[str]:
        """Email addresses of all mailboxes."""
        return self._call("GET", "accounts")

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
        res = self._call(
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

    def items(self, mailbox: str, include_deleted: bool = True) -> list[dict[str, Any]]:
        """Items of a mailbox (calendar, and deleted ones with folder/deleted set), oldest first."""
        flag = "1" if include_deleted else "0"
        path = f"mailboxes/{urllib.parse.quote(mailbox)}/items?include_deleted={flag}"
        return self._call("GET", path)

    def counters(self) -> dict[str, Any]:
        """Request counts: total, by_account, by_mailbox, by_operation and entries."""
        return self._call("GET", "counters")

    def reset_counters(self) -> None:
        """Zero all request counters and empty the request log."""
        self._call("POST", "counters/reset", {})

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

    def faults(self, **config: Any) -> dict[str, Any]:
        """Set latency/error_rate/drop_rate/schedule/refuse (see README); returns the config."""
        return self._call("POST", "faults", config)

    def clear_faults(self) -> None:
        """Remove all injected faults and latency."""
        self._call("POST", "faults", {"clear": True})

    def throttling(self, **config: Any) -> dict[str, Any]:
        """Set max_concurrent / back_off_ms / throttle={account: ms} / clear (see README)."""
        return self._call("POST", "throttling", config)

    def reset(self, keep_accounts: bool = False) -> None:
        """Drop items (and accounts unless keep_accounts), faults, throttling and counters."""
        self._call("POST", "reset", {"keep_accounts": keep_accounts})
