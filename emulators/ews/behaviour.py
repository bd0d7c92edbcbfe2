"""Latency, injected faults, throttling, request counters and the request log."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, TypedDict

from .errors import EwsError, HttpFailure

SERVER_ERROR_PAGE = (
    b"<html><head><title>Runtime Error</title></head><body>"
    b"<h1>Server Error in '/EWS' Application.</h1></body></html>"
)
REQUEST_LOG_SIZE = 10_000  # the request log keeps the most recent requests only
BUSY_MESSAGE = "The server cannot service this request right now. Try again later."


class ScheduledFailure(TypedDict):
    """A `schedule` entry of /_control/faults: fail the next `remaining` calls of an operation."""

    operation: str
    remaining: int
    response_code: str | None
    http_status: int | None
    message: str | None


class ItemRefusal(TypedDict):
    """A `refuse` entry of /_control/faults: refuse items of an operation by subject."""

    operation: str
    subject_matches: str  # a regular expression
    response_code: str
    message: str | None
    remaining: int | None  # None: refuse every matching item
    back_off_ms: int | None  # for ErrorServerBusy; None: the throttling back-off


class RequestLogEntry(TypedDict):
    """One answered EWS request in the request log (fields described in the README)."""

    t: float  # time.monotonic() of the emulator process when the request arrived
    utc: str
    account: str | None
    mailbox: str | None
    operation: str | None
    response_code: str | None
    items: int
    item_errors: dict[str, int]
    back_off_ms: int | None


@dataclass
class Behaviour:
    """Everything about how the server misbehaves; changed at start and through the control API."""

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    max_concurrent: int | None = None
    back_off_ms: int = 2000
    #: Streaming connections an account may hold open (Exchange Server's default).
    hanging_connection_limit: int = 3
    #: How long a minute of GetStreamingEvents' ConnectionTimeout lasts (shorter in tests).
    streaming_minute_s: float = 60.0
    schedules: list[ScheduledFailure] = field(default_factory=list)
    refusals: list[ItemRefusal] = field(default_factory=list)
    inflight: Counter[str] = field(default_factory=Counter)  # by lower-case account
    throttled_until: dict[str, float] = field(default_factory=dict)
    counters: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # account, mailbox, op
    refused: Counter[tuple[str, str]] = field(default_factory=Counter)  # account, response code
    request_log: deque[RequestLogEntry] = field(
        default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE)
    )
    #: Messages that did not validate against the EWS schema (when the server has one).
    schema_violations: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=random.Random)

    # --- configuration ------------------------------------------------------------------------
    def set_faults(self, cfg: dict[str, Any]) -> None:
        """Apply a /_control/faults body (see README)."""
        with self.lock:
            if cfg.get("clear"):
                self.latency_ms = self.latency_jitter_ms = self.error_rate = self.drop_rate = 0.0
                self.schedules, self.refusals = [], []
            for key in ("latency_ms", "latency_jitter_ms", "error_rate", "drop_rate"):
                if key in cfg:
                    setattr(self, key, float(cfg[key]))
            for s in cfg.get("schedule", []):
                self.schedules.append(
                    {
                        "operation": s["operation"],
                        "remaining": int(s.get("count", 1)),
                        "response_code": s.get("response_code"),
                        "http_status": s.get("http_status"),
                        "message": s.get("message"),
                    }
                )
            for r in cfg.get("refuse", []):
                re.compile(r["subject_matches"])  # a bad pattern fails the control call, not EWS
                count, back_off = r.get("count"), r.get("back_off_ms")
                self.refusals.append(
                    {
                        "operation": r.get("operation", "CreateItem"),
                        "subject_matches": r["subject_matches"],
                        "response_code": r.get("response_code", "ErrorInvalidValueForProperty"),
                        "message": r.get("message"),
                        "remaining": int(count) if count is not None else None,
                        "back_off_ms": int(back_off) if back_off is not None else None,
                    }
                )

    def set_throttling(self, cfg: dict[str, Any]) -> None:
        """Apply a /_control/throttling body (see README)."""
        with self.lock:
            if "max_concurrent" in cfg:
                v = cfg["max_concurrent"]
                self.max_concurrent = int(v) if v else None
            if "back_off_ms" in cfg:
                self.back_off_ms = int(cfg["back_off_ms"])
            if "hanging_connection_limit" in cfg:
                self.hanging_connection_limit = int(cfg["hanging_connection_limit"])
            if "streaming_minute_s" in cfg:
                self.streaming_minute_s = float(cfg["streaming_minute_s"])
            for account, ms in (cfg.get("throttle") or {}).items():
                self.throttled_until[account.lower()] = time.monotonic() + int(ms) / 1000
            if cfg.get("clear"):
                self.max_concurrent = None
                self.throttled_until.clear()
                self.hanging_connection_limit, self.streaming_minute_s = 3, 60.0

    def snapshot(self) -> dict[str, Any]:
        """Current fault and throttling configuration."""
        with self.lock:
            return {
                "latency_ms": self.latency_ms,
                "latency_jitter_ms": self.latency_jitter_ms,
                "error_rate": self.error_rate,
                "drop_rate": self.drop_rate,
                "max_concurrent": self.max_concurrent,
                "back_off_ms": self.back_off_ms,
                "schedules": [dict(s) for s in self.schedules],
                "refusals": [dict(r) for r in self.refusals],
            }

    # --- per request --------------------------------------------------------------------------
    def delay(self) -> None:
        """Sleep for the configured latency (plus jitter)."""
        extra = self.latency_jitter_ms * self.rng.random() if self.latency_jitter_ms else 0.0
        total = self.latency_ms + extra
        if total > 0:
            time.sleep(total / 1000)

    def random_failure(self) -> None:
        """Dropped connection or HTTP 500, by configured share."""
        if self.drop_rate and self.rng.random() < self.drop_rate:
            raise HttpFailure(None)
        if self.error_rate and self.rng.random() < self.error_rate:
            raise HttpFailure(500, SERVER_ERROR_PAGE)

    def scheduled_failure(self, operation: str) -> None:
        """Consume one scheduled failure of this operation, if any."""
        with self.lock:
            for s in self.schedules:
                if s["operation"] == operation and s["remaining"] > 0:
                    s["remaining"] -= 1
                    chosen = s.copy()
                    break
            else:
                return
            self.schedules = [s for s in self.schedules if s["remaining"] > 0]
        status = chosen["http_status"]
        if status:
            raise HttpFailure(int(status), SERVER_ERROR_PAGE)
        code = chosen["response_code"] or "ErrorInternalServerError"
        raise EwsError(code, chosen["message"] or f"Injected failure of {operation}.")

    def refuse_item(self, operation: str, subject: str) -> EwsError | None:
        """The error refusing one item of an operation, if a rule matches its subject.

        A rule with a count refuses that many items and is then dropped. An `ErrorServerBusy`
        refusal carries `BackOffMilliseconds` (the rule's `back_off_ms`, else the throttling
        back-off), as Exchange puts it in the item's response message.
        """
        with self.lock:
            for rule in self.refusals:
                if rule["operation"] != operation or not re.search(
                    rule["subject_matches"], subject
                ):
                    continue
                if rule["remaining"] is not None:
                    rule["remaining"] -= 1
                    if rule["remaining"] <= 0:
                        self.refusals.remove(rule)
                code = rule["response_code"]
                if code == "ErrorServerBusy":
                    ms = rule["back_off_ms"]
                    ms = self.back_off_ms if ms is None else ms
                    return EwsError(
                        code, rule["message"] or BUSY_MESSAGE, {"BackOffMilliseconds": str(ms)}
                    )
                return EwsError(code, rule["message"] or f"The item '{subject}' was refused.")
            return None

    def enter(self, account: str) -> None:
        """Admit a request of an account, or raise ErrorServerBusy (with the back-off to honour)."""
        key = account.lower()
        now = time.monotonic()
        with self.lock:
            until = self.throttled_until.get(key, 0.0)
            if until > now:
                self._busy(int((until - now) * 1000) + 1)
            if self.max_concurrent is not None and self.inflight[key] >= self.max_concurrent:
                self.throttled_until[key] = now + self.back_off_ms / 1000
                self._busy(self.back_off_ms)
            self.inflight[key] += 1

    def leave(self, account: str) -> None:
        """A request of the account has finished."""
        with self.lock:
            self.inflight[account.lower()] -= 1

    @staticmethod
    def _busy(ms: int) -> None:
        raise EwsError("ErrorServerBusy", BUSY_MESSAGE, {"BackOffMilliseconds": str(ms)})

    def count(self, account: str, mailbox: str, operation: str, refused: str = "") -> None:
        """Count one EWS request; refused names the request-level error code, if any."""
        with self.lock:
            self.counters[(account, mailbox, operation)] += 1
            if refused:
                self.refused[(account, refused)] += 1

    def counter_report(self) -> dict[str, Any]:
        """Totals by account, by mailbox, by operation, and every (account, mailbox, operation)."""
        with self.lock:
            rows = list(self.counters.items())
            refused = list(self.refused.items())
        by_account: Counter[str] = Counter()
        by_mailbox: Counter[str] = Counter()
        by_operation: Counter[str] = Counter()
        for (a, mb, op), n in rows:
            by_account[a] += n
            by_mailbox[mb] += n
            by_operation[op] += n
        return {
            "total": sum(n for _, n in rows),
            "by_account": dict(by_account),
            "by_mailbox": dict(by_mailbox),
            "by_operation": dict(by_operation),
            "entries": [
                {"account": a, "mailbox": mb, "operation": op, "count": n}
                for (a, mb, op), n in rows
            ],
            "refused": [{"account": a, "code": code, "count": n} for (a, code), n in refused],
        }

    def log_request(self, entry: RequestLogEntry) -> None:
        """Append one answered EWS request to the (bounded) request log."""
        with self.lock:
            self.request_log.append(entry)

    def record_violation(self, violation: dict[str, Any]) -> None:
        """Keep a message that broke the EWS schema, for the control API."""
        with self.lock:
            self.schema_violations.append(violation)

    def violations(self) -> list[dict[str, Any]]:
        """Every schema violation since the server started, oldest first."""
        with self.lock:
            return list(self.schema_violations)

    def requests(self) -> list[RequestLogEntry]:
        """The request log, oldest first."""
        with self.lock:
            return list(self.request_log)

    def reset_counters(self) -> None:
        """Zero all request counters and empty the request log."""
        with self.lock:
            self.counters.clear()
            self.refused.clear()
            self.request_log.clear()
