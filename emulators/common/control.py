"""The client side of the `/_control/` JSON API: the calls every emulator answers alike."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class ControlError(RuntimeError):
    """The control API refused a call."""


class BaseControlClient:
    """Thin stdlib client of the control endpoints common to all emulators.

    Each emulator subclasses it with its own account and app calls; the fields of counters,
    faults and throttling are described in that emulator's README.
    """

    def __init__(self, base_url: str, ca_file: str | None = None, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._ssl = ssl.create_default_context(cafile=ca_file) if ca_file else None

    def _open(self, req: urllib.request.Request, what: str) -> bytes:
        """Send a request; an HTTP error becomes a ControlError naming `what`."""
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._ssl) as resp:  # noqa: S310
                body: bytes = resp.read()  # typeshed types urlopen()'s answer as Any
                return body
        except urllib.error.HTTPError as exc:
            raise ControlError(f"{what}: {exc.code} {exc.read().decode()}") from exc

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The decoded JSON answer; its shape is the endpoint's (see the README), not checked."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.base_url}/_control/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        return json.loads(self._open(req, f"{method} /_control/{path}") or b"null")

    def health(self) -> bool:
        """True when the server answers."""
        return bool(self._call("GET", "health").get("ok"))

    def accounts(self) -> list[str]:
        """Email addresses of all accounts."""
        emails: list[str] = self._call("GET", "accounts")
        return emails

    def items(self, mailbox: str, include_deleted: bool = True) -> list[dict[str, Any]]:
        """Items of a mailbox as stored, with `folder` set (deleted ones unless excluded)."""
        flag = "1" if include_deleted else "0"
        items: list[dict[str, Any]] = self._call(
            "GET", f"mailboxes/{urllib.parse.quote(mailbox)}/items?include_deleted={flag}"
        )
        return items

    def counters(self) -> dict[str, Any]:
        """Request counters (total, by_mailbox, by_operation, ...; see the README)."""
        counters: dict[str, Any] = self._call("GET", "counters")
        return counters

    def reset_counters(self) -> None:
        """Zero all request counters (and empty the request log where there is one)."""
        self._call("POST", "counters/reset", {})

    def faults(self, **config: Any) -> dict[str, Any]:
        """Set injected latency, errors and refusals (see the README); returns the config."""
        applied: dict[str, Any] = self._call("POST", "faults", config)
        return applied

    def clear_faults(self) -> None:
        """Remove all injected faults and latency."""
        self._call("POST", "faults", {"clear": True})

    def throttling(self, **config: Any) -> dict[str, Any]:
        """Set concurrency limits and back-off (see the README); returns the config."""
        applied: dict[str, Any] = self._call("POST", "throttling", config)
        return applied

    def reset(self, keep_accounts: bool = False) -> None:
        """Drop items (and accounts unless keep_accounts), faults, throttling and counters."""
        self._call("POST", "reset", {"keep_accounts": keep_accounts})
