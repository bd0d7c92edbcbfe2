"""The backend-neutral contract between the engine and an Exchange backend.

Only plain dataclasses cross this boundary: no exchangelib (or Graph SDK) type ever does, so a
Microsoft Graph backend can sit beside the EWS one. Times are tz-aware UTC datetimes.

Per-trainer problems are *returned* (`AccessResult`, `ActionResult`), never raised, so one
trainer cannot stop the others; service-wide failures (credentials, network, TLS) raise the
classified errors of `connectors.exchange.errors`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from sync_rules.vocabulary import MANAGED_FIELDS

# Fields an update may name in `ExchangeAction.changed_fields`.
UPDATABLE_FIELDS = (*MANAGED_FIELDS, "timezone")


@dataclass(frozen=True)
class VerificationResult:
    """The outcome of checking a service's credentials and reachability ("Save verifies")."""

    ok: bool
    service: str
    message: str
    hint: str | None = None
    error: str | None = None  # error class name when not ok, e.g. "AuthenticationFailed"
    server_version: str | None = None


@dataclass(frozen=True)
class AccessProblem:
    """One reason a trainer's mailbox cannot be synced, with what the admin must do."""

    code: str  # "domain_mismatch" | "mailbox_not_found" | "insufficient_rights" | ...
    message: str


@dataclass(frozen=True)
class AccessResult:
    """Whether the master account may sync one mailbox in one direction."""

    mailbox: str
    direction: str
    ok: bool
    problems: tuple[AccessProblem, ...] = ()
    rights: tuple[str, ...] = ()  # rights found on the calendar, e.g. ("read", "create")


@dataclass(frozen=True)
class ExchangeRow:
    """One calendar item (an occurrence, for recurring series) for the exchange frame.

    `tag_key`/`tag_hash` come from the engine's tag; both None means the trainer's own item.
    `modified_by`/`modified_at`: who last saved the item and when, where the backend says
    (EWS LastModifiedName/Time; Graph has no modifier's name, see docs/sync-semantics.md).
    """

    item_id: str
    change_key: str
    start: dt.datetime
    end: dt.datetime
    all_day: bool
    subject: str
    location: str
    body: str
    show_as: str
    is_cancelled: bool
    sensitivity: str
    tag_key: str | None
    tag_hash: str | None
    modified_by: str | None = None
    modified_at: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """The row as a plain dict with the exchange frame's column names."""
        return asdict(self)


@dataclass(frozen=True)
class ChangeCheck:
    """The answer of the change gate: did the calendar change, and the cursor to keep."""

    changed: bool
    cursor: str


@dataclass(frozen=True)
class ExchangeAction:
    """One write to a trainer's calendar, planned by the engine.

    All-day items carry `start`/`end` as the UTC instants of local midnights in `timezone`.
    `changed_fields` (for update) limits the write to those fields; the tag is always rewritten
    because it carries `content_hash`. `change_key` guards an update: if the item moved on
    since it was read, the update is refused with a `Conflict` result.
    """

    action: str
    entry_key: str
    item_id: str | None = None
    change_key: str | None = None
    subject: str = ""
    body: str = ""
    location: str = ""
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    all_day: bool = False
    timezone: str = "UTC"
    show_as: str = "Busy"
    categories: tuple[str, ...] = ()
    reminder_minutes: int | None = None
    content_hash: str = ""
    changed_fields: tuple[str, ...] = ()
    delete_mode: str = "move_to_deleted_items"


@dataclass(frozen=True)
class ActionResult:
    """The outcome of one action, in the order the actions were given."""

    ok: bool
    item_id: str | None = None
    change_key: str | None = None
    error: str | None = None  # error class name, e.g. "ItemNotFound", "Conflict"
    message: str | None = None


@runtime_checkable
class ExchangeConnector(Protocol):
    """What the engine needs from an Exchange backend (EWS or Microsoft Graph)."""

    #: The requests sent and back-offs asked for so far.
    stats: RequestStats

    def verify_service(self) -> VerificationResult:
        """Check the master account's credentials and endpoint; failures are returned."""
        ...

    def check_access(self, mailbox: str, direction: str) -> AccessResult:
        """Check that the master account may sync `mailbox` in `direction` (`in`/`out`/`both`)."""
        ...

    def read_window(self, mailbox: str, start: dt.datetime, end: dt.datetime) -> list[ExchangeRow]:
        """All items overlapping [start, end), occurrences expanded."""
        ...

    def changed_since(
        self,
        mailbox: str,
        cursor: str | None,
        engine_writes: Mapping[str, str | None] | None = None,
        window: tuple[dt.datetime, dt.datetime] | None = None,
    ) -> ChangeCheck:
        """Whether the calendar changed since `cursor`; returns the cursor to store.

        `engine_writes` maps item ids to the change keys the engine's own writes produced (None
        for deletions): those changes do not count, so calling this right after `apply` with
        the results advances the cursor past the engine's writes without hiding a trainer's.
        `window` is the span the caller syncs, for a backend whose change tracking is bound to
        one (Graph's calendarView/delta); a gate that sees the whole calendar ignores it.
        """
        ...

    def apply(self, mailbox: str, actions: Sequence[ExchangeAction]) -> list[ActionResult]:
        """Perform the writes; one result per action, in order. One bad item fails alone."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def in_window(row: ExchangeRow, start: dt.datetime) -> bool:
    """Whether a row that a calendar view returned lies in the window from `start`: views
    include items ending exactly at their start, which the half-open window does not."""
    return row.end > start or row.start >= start


def check_window(start: dt.datetime, end: dt.datetime) -> None:
    """Raise ValueError unless [start, end) is a window `read_window` can read."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("read_window needs timezone-aware start and end")
    if end <= start:
        raise ValueError("read_window needs start < end")


def engine_writes_from(
    actions: Sequence[ExchangeAction], results: Sequence[ActionResult]
) -> dict[str, str | None]:
    """The `engine_writes` mapping for `changed_since`, from an `apply` call and its results."""
    out: dict[str, str | None] = {}
    for action, result in zip(actions, results, strict=True):
        if not result.ok:
            continue
        if action.action == "delete" and action.item_id:
            out[action.item_id] = None
        elif result.item_id:
            out[result.item_id] = result.change_key
    return out


def is_engine_write(
    writes: Mapping[str, str | None], item_id: str | None, change_key: str | None, *, removed: bool
) -> bool:
    """True when a change the change gate found is exactly one the engine's writes produced
    (`writes` as made by `engine_writes_from`): the same id and change key, or the deletion of
    an item the engine deleted. Anything else, e.g. a trainer's later edit of the item, counts."""
    if item_id is None or item_id not in writes:
        return False
    expected = writes[item_id]
    if removed:
        return expected is None
    return expected is not None and change_key == expected


@dataclass
class RequestStats:
    """Requests a connector sent, by EWS operation, and the back-offs the server asked for (for
    benchmarks, logs and the throttling alert)."""

    counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    #: How often the server asked this connector to back off (throttling), all requests.
    back_offs: int = 0

    def add(self, operation: str) -> None:
        with self._lock:
            self.counts[operation] = self.counts.get(operation, 0) + 1

    def backed_off(self) -> None:
        """The server throttled a request (or some items of a batch) and asked to wait."""
        with self._lock:
            self.back_offs += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())
