"""The Graph stand-in's state: tenants' apps, user accounts, mailboxes and their events.

Events are kept as Graph JSON (camelCase, as a client sent them) plus private keys starting
with `_` (folder, change sequence, recurrence exceptions). Every change bumps the mailbox's
sequence number; delta tokens remember the sequence they were issued at.
"""

from __future__ import annotations

import base64
import secrets
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emulators.common.state import read_state, restoring, write_json_atomic


def new_id(prefix: str = "AAMkA") -> str:
    """An opaque, URL-safe id shaped like an Exchange Online immutable id."""
    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(30)).decode().rstrip("=")


def new_change_key() -> str:
    """A fresh change key (base64, as Exchange's)."""
    return base64.b64encode(secrets.token_bytes(12)).decode()


@dataclass
class App:
    """An app registration and the application permissions it holds.

    `roles` with `mailboxes=None` are granted by admin consent in Entra ID: tenant-wide, and
    listed in the token's `roles` claim. With a list of `mailboxes` they are granted by an RBAC
    for Applications role assignment ("Application Calendars.ReadWrite") whose management scope
    holds those mailboxes: they are not in the token. `entra_roles` are consented in Entra ID on
    top (tenant-wide, in the token): grants are additive, so they make a scope moot.
    """

    tenant: str
    client_id: str
    client_secret: str
    roles: list[str] = field(default_factory=lambda: ["Calendars.ReadWrite"])
    mailboxes: list[str] | None = None
    entra_roles: list[str] = field(default_factory=list)

    def token_roles(self) -> list[str]:
        """The `roles` claim: what Entra ID consented (RBAC assignments are not listed)."""
        tenant_wide = list(self.roles) if self.mailboxes is None else []
        return sorted(set(tenant_wide) | set(self.entra_roles))

    def roles_for(self, mailbox: str) -> set[str]:
        """The permissions the app holds on one mailbox."""
        scoped = self.mailboxes is None or mailbox.lower() in {m.lower() for m in self.mailboxes}
        return set(self.entra_roles) | (set(self.roles) if scoped else set())


@dataclass
class Account:
    """A user; `mailbox=False` models a user without an Exchange Online mailbox."""

    email: str
    password: str
    mailbox: bool = True


@dataclass
class Mailbox:
    """A mailbox's calendar: events by id (any folder), the change sequence, the delta epoch.

    Events stay in `events` when deleted, with `_folder` "deleteditems" or "purged", so delta
    can report them as removed.
    """

    email: str
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    seq: int = 0
    delta_epoch: int = 0

    def bump(self) -> int:
        """Advance and return the change sequence."""
        self.seq += 1
        return self.seq


class Store:
    """All state, guarded by one lock; optionally persisted to a JSON file (atomic writes)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self.lock = threading.RLock()
        self.apps: dict[tuple[str, str], App] = {}
        self.accounts: dict[str, Account] = {}
        self.mailboxes: dict[str, Mailbox] = {}
        self.token_lifetime = 3600
        if self.path and self.path.exists():
            self._load()

    # --- accounts and apps --------------------------------------------------------------------
    def add_account(self, email: str, password: str, mailbox: bool = True) -> None:
        """Create a user (with a mailbox unless mailbox=False) or change its password."""
        key = email.lower()
        with self.lock:
            self.accounts[key] = Account(email, password, mailbox)
            if mailbox:
                self.mailboxes.setdefault(key, Mailbox(email))
            else:
                self.mailboxes.pop(key, None)
            self.save()

    def add_app(self, app: App) -> None:
        """Register (or replace) an app of a tenant."""
        with self.lock:
            self.apps[(app.tenant.lower(), app.client_id.lower())] = app
            self.save()

    def app(self, tenant: str, client_id: str) -> App | None:
        """The registered app, or None."""
        return self.apps.get((tenant.lower(), client_id.lower()))

    def has_tenant(self, tenant: str) -> bool:
        """A tenant exists once an app is registered in it."""
        return any(t == tenant.lower() for t, _ in self.apps)

    def mailbox(self, email: str) -> Mailbox | None:
        """The mailbox of a user, or None (no such user, or a user without a mailbox)."""
        return self.mailboxes.get(email.lower())

    def reset(self, keep_accounts: bool = False) -> None:
        """Drop events (and accounts and apps unless kept)."""
        with self.lock:
            if keep_accounts:
                for mb in self.mailboxes.values():
                    mb.events.clear()
                    mb.delta_epoch += 1
            else:
                self.apps.clear()
                self.accounts.clear()
                self.mailboxes.clear()
            self.save()

    # --- persistence --------------------------------------------------------------------------
    def save(self) -> None:
        """Write the state file atomically (temp file in the same directory + os.replace)."""
        if not self.path:
            return
        with self.lock:
            data = {
                "apps": [asdict(a) for a in self.apps.values()],
                "accounts": [asdict(a) for a in self.accounts.values()],
                "mailboxes": [asdict(m) for m in self.mailboxes.values()],
                "token_lifetime": self.token_lifetime,
            }
            write_json_atomic(self.path, data, ".graph-state-")

    def _load(self) -> None:
        assert self.path is not None
        # An empty file is a new organisation (a state file made with `touch`).
        empty = self.path.is_file() and self.path.stat().st_size == 0
        data = {} if empty else read_state(self.path)
        with restoring(self.path, "Graph stand-in"):
            for a in data.get("apps", []):
                self.apps[(a["tenant"].lower(), a["client_id"].lower())] = App(**a)
            for a in data.get("accounts", []):
                self.accounts[a["email"].lower()] = Account(**a)
            for m in data.get("mailboxes", []):
                mb = Mailbox(**m)
                self.mailboxes[mb.email.lower()] = mb
            self.token_lifetime = int(data.get("token_lifetime", 3600))
