"""State of the emulated Exchange organisation: accounts, grants, apps, items, change logs."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from lxml import etree

from emulators.common.state import read_state, restoring, write_json_atomic

from .xmlutil import child, local, parse_bool, parse_dt, text_of

FOLDERS = (
    "root",
    "msgfolderroot",
    "calendar",
    "inbox",
    "deleteditems",
    "sentitems",
    "drafts",
    "recoverableitemsdeletions",
)
FOLDER_PARENT = {
    "msgfolderroot": "root",
    "calendar": "msgfolderroot",
    "inbox": "msgfolderroot",
    "deleteditems": "msgfolderroot",
    "sentitems": "msgfolderroot",
    "drafts": "msgfolderroot",
    "recoverableitemsdeletions": "root",
}
FOLDER_NAMES = {
    "root": "",
    "msgfolderroot": "Top of Information Store",
    "calendar": "Calendar",
    "inbox": "Inbox",
    "deleteditems": "Deleted Items",
    "sentitems": "Sent Items",
    "drafts": "Drafts",
    "recoverableitemsdeletions": "Deletions",
}
FOLDER_CLASS = {
    "calendar": "IPF.Appointment",
    "inbox": "IPF.Note",
    "deleteditems": "IPF.Note",
    "sentitems": "IPF.Note",
    "drafts": "IPF.Note",
}


def b64(text: str) -> str:
    """Opaque-looking id text."""
    return base64.b64encode(text.encode()).decode()


def unb64(value: str) -> str | None:
    """Decode an id produced by b64(), or None when it is not one."""
    try:
        return base64.b64decode(value.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def folder_id(mailbox: str, name: str) -> str:
    """Stable folder id of a mailbox's well-known folder."""
    return b64(f"F:{mailbox}:{name}")


def parse_folder_id(value: str) -> tuple[str, str] | None:
    """(mailbox, folder name) of a folder id, or None."""
    raw = unb64(value)
    if not raw or not raw.startswith("F:"):
        return None
    mailbox, _, name = raw[2:].rpartition(":")
    return (mailbox, name) if name in FOLDERS else None


def ext_key(uri: etree._Element) -> str:
    """Identity of an extended property: its ExtendedFieldURI attributes except the type."""
    attrs = {k: v.lower() for k, v in uri.attrib.items() if k != "PropertyType"}
    return json.dumps(attrs, sort_keys=True)


@dataclass
class Item:
    """A calendar item. Stored properties are the t:-namespace elements a client sent."""

    id: str
    mailbox: str
    folder: str
    props: dict[str, etree._Element] = field(default_factory=dict)
    ext: dict[str, etree._Element] = field(default_factory=dict)
    version: int = 1
    field_versions: dict[str, int] = field(default_factory=dict)
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    modified: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    #: LastModifiedName: the display name of the account that last saved the item.
    modified_by: str = ""
    uid: str = field(default_factory=lambda: uuid.uuid4().hex.upper())
    exceptions: dict[int, dict[str, etree._Element]] = field(default_factory=dict)
    deleted_occurrences: set[int] = field(default_factory=set)
    origin_folder: str | None = None
    deleted_how: str | None = None

    @property
    def change_key(self) -> str:
        """Changes on every modification; encodes the version so conflicts can be judged."""
        return b64(f"CK:{self.version}:{self.id[-6:]}")

    def text(self, name: str) -> str | None:
        """Stored text of a property."""
        return text_of(self.props.get(name))

    @property
    def subject(self) -> str:
        """Subject text ("" when unset)."""
        return self.text("Subject") or ""

    @property
    def start(self) -> dt.datetime | None:
        """Start as an aware UTC datetime."""
        v = self.text("Start")
        return parse_dt(v) if v else None

    @property
    def end(self) -> dt.datetime | None:
        """End as an aware UTC datetime."""
        v = self.text("End")
        return parse_dt(v) if v else None

    @property
    def is_recurring(self) -> bool:
        """True for a series master."""
        return "Recurrence" in self.props

    @property
    def is_all_day(self) -> bool:
        """IsAllDayEvent."""
        return parse_bool(self.text("IsAllDayEvent"))

    def touch(self, names: list[str], by: str | None = None) -> None:
        """Record a modification of the given properties (saved by `by`, a display name)."""
        self.version += 1
        self.modified = dt.datetime.now(dt.UTC)
        if by is not None:
            self.modified_by = by
        for n in names:
            self.field_versions[n] = self.version

    def ext_values(self) -> dict[str, str | list[str]]:
        """Extended properties as name -> value, for the control API."""
        out: dict[str, str | list[str]] = {}
        for prop in self.ext.values():
            uri = child(prop, "ExtendedFieldURI")
            if uri is None:
                continue
            name = (
                uri.get("PropertyName")
                or uri.get("PropertyTag")
                or uri.get("PropertyId")
                or json.dumps(dict(uri.attrib))
            )
            values = child(prop, "Values")
            if values is not None:
                out[name] = [v.text or "" for v in values if local(v.tag) == "Value"]
            else:
                out[name] = text_of(prop, "Value") or ""
        return out

    def to_json(self) -> dict[str, Any]:
        """Serializable form for the state file."""
        return {
            "id": self.id,
            "mailbox": self.mailbox,
            "folder": self.folder,
            "props": {k: etree.tostring(v).decode() for k, v in self.props.items()},
            "ext": {k: etree.tostring(v).decode() for k, v in self.ext.items()},
            "version": self.version,
            "field_versions": self.field_versions,
            "created": self.created.isoformat(),
            "modified": self.modified.isoformat(),
            "modified_by": self.modified_by,
            "uid": self.uid,
            "exceptions": {
                str(i): {k: etree.tostring(v).decode() for k, v in p.items()}
                for i, p in self.exceptions.items()
            },
            "deleted_occurrences": sorted(self.deleted_occurrences),
            "origin_folder": self.origin_folder,
            "deleted_how": self.deleted_how,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Item:
        """Inverse of to_json()."""
        return cls(
            id=d["id"],
            mailbox=d["mailbox"],
            folder=d["folder"],
            props={k: etree.fromstring(v) for k, v in d["props"].items()},
            ext={k: etree.fromstring(v) for k, v in d["ext"].items()},
            version=d["version"],
            field_versions=d["field_versions"],
            created=dt.datetime.fromisoformat(d["created"]),
            modified=dt.datetime.fromisoformat(d["modified"]),
            modified_by=d.get("modified_by", ""),  # state files of older versions lack it
            uid=d["uid"],
            exceptions={
                int(i): {k: etree.fromstring(v) for k, v in p.items()}
                for i, p in d["exceptions"].items()
            },
            deleted_occurrences=set(d["deleted_occurrences"]),
            origin_folder=d.get("origin_folder"),
            deleted_how=d.get("deleted_how"),
        )


class Account(TypedDict):
    """A mailbox owner's sign-in, as kept (and persisted) by address."""

    email: str  # as first given: the mailbox's canonical spelling
    password: str
    name: NotRequired[str]  # its display name, when one was given


class IssuedToken(TypedDict):
    """An access token the token endpoint issued."""

    app: str  # "<tenant>:<client_id>", the key of Store.apps
    expires: float  # time.time() after which it is refused


@dataclass
class Grant:
    """A permission given by a mailbox owner to another account."""

    owner: str
    grantee: str
    kind: str  # delegate | impersonation
    calendar_role: str = "Editor"  # Editor | Reviewer | None


@dataclass
class App:
    """An app with client credentials, scoped to listed mailboxes (RBAC for Applications)."""

    tenant: str
    client_id: str
    client_secret: str
    mailboxes: list[str]


class Store:
    """Everything the emulated organisation knows. Guarded by one lock held per request."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.lock = threading.RLock()
        self.path = Path(path) if path else None
        self.clear()
        if self.path and self.path.exists():
            self.load()

    def clear(self) -> None:
        """Forget everything (accounts included)."""
        self.accounts: dict[str, Account] = {}  # by lower-case address
        self.grants: list[Grant] = []
        self.apps: dict[str, App] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.items: dict[str, Item] = {}
        self.log: dict[str, list[tuple[int, str, str]]] = {}
        self.stamps: dict[int, dt.datetime] = {}  # when each change was made (not kept on disk)
        self.subscriptions: dict[str, Any] = {}  # notification subscriptions, by id (in memory)
        self.seq = 0
        self.secret = secrets.token_hex(16)

    # --- accounts and permissions -------------------------------------------------------------
    def add_account(self, email: str, password: str, name: str | None = None) -> None:
        """Create (or re-password) a mailbox; `name` is its display name (by default the
        address' local part)."""
        self.accounts[email.lower()] = {"email": email, "password": password}
        if name:
            self.accounts[email.lower()]["name"] = name

    def account(self, email: str | None) -> Account | None:
        """The account record of an address (case-insensitive), or None."""
        return self.accounts.get((email or "").lower())

    def grant(self, g: Grant) -> None:
        """Add or replace the grant of that kind between owner and grantee."""
        self.grants = [
            x
            for x in self.grants
            if not (
                x.owner.lower() == g.owner.lower()
                and x.grantee.lower() == g.grantee.lower()
                and x.kind == g.kind
            )
        ]
        self.grants.append(g)

    def find_grant(self, owner: str, grantee: str, kind: str) -> Grant | None:
        """The grant of a kind from owner to grantee, or None."""
        for g in self.grants:
            if (
                g.owner.lower() == owner.lower()
                and g.grantee.lower() == grantee.lower()
                and g.kind == kind
            ):
                return g
        return None

    # --- items and change log -----------------------------------------------------------------
    def record(self, item: Item, kind: str, folder: str | None = None) -> None:
        """Append a Create/Update/Delete entry to the folder's change log."""
        self.seq += 1
        self.stamps[self.seq] = dt.datetime.now(dt.UTC)
        key = f"{item.mailbox.lower()}:{folder or item.folder}"
        self.log.setdefault(key, []).append((self.seq, item.id, kind))

    def folder_items(self, mailbox: str, folder: str) -> list[Item]:
        """Items currently in a folder of a mailbox."""
        mb = mailbox.lower()
        return [i for i in self.items.values() if i.mailbox.lower() == mb and i.folder == folder]

    # --- persistence --------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Serializable form of the whole state."""
        return {
            "accounts": self.accounts,
            "grants": [g.__dict__ for g in self.grants],
            "apps": {k: a.__dict__ for k, a in self.apps.items()},
            "items": [i.to_json() for i in self.items.values()],
            "log": self.log,
            "seq": self.seq,
            "secret": self.secret,
            "tokens": self.tokens,
        }

    def save(self) -> None:
        """Write the state file atomically (temp file in the same directory + os.replace)."""
        if not self.path:
            return
        write_json_atomic(self.path, self.to_json(), ".ews-state-")

    def load(self) -> None:
        """Replace the state with the state file contents."""
        assert self.path is not None
        d = read_state(self.path)
        with restoring(self.path, "EWS emulator"):
            self.accounts = dict(d["accounts"])
            self.grants = [Grant(**g) for g in d["grants"]]
            self.apps = {k: App(**a) for k, a in d["apps"].items()}
            self.items = {i["id"]: Item.from_json(i) for i in d["items"]}
            self.log = {k: [tuple(e) for e in v] for k, v in d["log"].items()}
            self.seq = int(d["seq"])
            self.secret = str(d["secret"])
            self.tokens = dict(d.get("tokens", {}))


def clone(el: etree._Element) -> etree._Element:
    """Deep copy of an element."""
    return copy.deepcopy(el)


def new_item_id() -> str:
    """A fresh, opaque item id."""
    return b64(f"I:{uuid.uuid4().hex}")
