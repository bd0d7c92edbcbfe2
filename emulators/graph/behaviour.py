"""Latency, injected faults, throttling (429 + Retry-After) and request counters."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TypedDict

DEFAULT_MAX_CONCURRENT = 4  # Outlook resources: 4 concurrent requests per app per mailbox


class FaultAnswer(TypedDict):
    """An injected error answer: HTTP status, Graph error code, Retry-After seconds."""

    status: int
    code: str | None  # None: the usual code of the status
    retry_after: int | None  # None: no Retry-After header


class ScheduledFault(FaultAnswer):
    """A `schedule` entry of /_control/faults: the next `remaining` matching requests fail."""

    method: str  # upper case; "" matches every method
    path: str  # matches request paths containing it
    remaining: int
    drop: bool  # carry the request out, then close the connection without an answer


class Refusal(TypedDict):
    """A `refuse` entry of /_control/faults: writes of matching subjects are refused."""

    mailbox: str  # lower case; "" matches every mailbox
    subject_contains: str
    status: int
    code: str
    message: str


@dataclass
class Throttle:
    """Why and for how long a request is refused with 429."""

    retry_after: int
    code: str = "ApplicationThrottled"
    message: str = "Application is over its MailboxConcurrency limit."


@dataclass
class Behaviour:
    """How the server misbehaves; set at start and through the control API."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    retry_after: int = 1
    schedules: list[ScheduledFault] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    throttled_until: dict[str, float] = field(default_factory=dict)  # by lower-case mailbox
    throttle_next: Counter[str] = field(default_factory=Counter)  # by lower-case mailbox
    inflight: Counter[str] = field(default_factory=Counter)  # by "<app>|<mailbox>", lower case
    counters: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=random.Random)

    # --- configuration ------------------------------------------------------------------------
    def set_faults(self, cfg: dict[str, Any]) -> dict[str, Any]:
        """Apply a /_control/faults body (see README); returns the resulting configuration."""
        with self.lock:
            if cfg.get("clear"):
                self.latency_ms = self.error_rate = 0.0
                self.schedules, self.refusals = [], []
            for key in ("latency_ms", "error_rate"):
                if key in cfg:
                    setattr(self, key, float(cfg[key]))
            for s in cfg.get("schedule", []):
                self.schedules.append(
                    {
                        "method": (s.get("method") or "").upper(),
                        "path": s.get("path", ""),
                        "remaining": int(s.get("count", 1)),
                        "status": int(s.get("status", 500)),
                        "code": s.get("code"),
                        "retry_after": s.get("retry_after"),
                        "drop": bool(s.get("drop", False)),
                    }
                )
            for r in cfg.get("refuse", []):
                self.refusals.append(
                    {
                        "mailbox": (r.get("mailbox") or "").lower(),
                        "subject_contains": r.get("subject_contains", ""),
                        "status": int(r.get("status", 400)),
                        "code": r.get("code", "ErrorInvalidRequest"),
                        "message": r.get("message", "The request is invalid."),
                    }
                )
            return self._faults()

    def _faults(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "schedule": [dict(s) for s in self.schedules],
            "refuse": [dict(r) for r in self.refusals],
        }

    def set_throttling(self, cfg: dict[str, Any]) -> dict[str, Any]:
        """Apply a /_control/throttling body (see README)."""
        with self.lock:
            if cfg.get("clear"):
                self.throttled_until.clear()
                self.throttle_next.clear()
                self.max_concurrent = DEFAULT_MAX_CONCURRENT
                self.retry_after = 1
            if "max_concurrent" in cfg:
                self.max_concurrent = int(cfg["max_concurrent"])
            if "retry_after" in cfg:
                self.retry_after = int(cfg["retry_after"])
            now = time.monotonic()
            for mailbox, seconds in (cfg.get("throttle") or {}).items():
                self.throttled_until[mailbox.lower()] = now + float(seconds)
            for mailbox, count in (cfg.get("throttle_next") or {}).items():
                self.throttle_next[mailbox.lower()] = int(count)
            return {
                "max_concurrent": self.max_concurrent,
                "retry_after": self.retry_after,
                "throttled": {
                    m: round(u - now, 3) for m, u in self.throttled_until.items() if u > now
                },
                "throttle_next": dict(self.throttle_next),
            }

    # --- per request --------------------------------------------------------------------------
    def delay(self) -> None:
        """Injected latency."""
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)

    def random_failure(self) -> bool:
        """True when an injected random 500 should be answered."""
        return bool(self.error_rate) and self.rng.random() < self.error_rate

    def scheduled(self, method: str, path: str) -> ScheduledFault | None:
        """The scheduled failure matching this request, consuming one of its count."""
        with self.lock:
            for s in self.schedules:
                if s["remaining"] > 0 and s["method"] in ("", method) and s["path"] in path:
                    s["remaining"] -= 1
                    self.counters["faults.scheduled"] += 1
                    return s.copy()
        return None

    def refusal(self, mailbox: str, subject: str) -> Refusal | None:
        """A configured per-item refusal for a write of `subject` to `mailbox`."""
        for r in self.refusals:
            if r["mailbox"] in ("", mailbox.lower()) and r["subject_contains"] in subject:
                return r
        return None

    def throttled(self, mailbox: str) -> Throttle | None:
        """A 429 for a mailbox that is being throttled (explicit window or next-N), else None."""
        key = mailbox.lower()
        with self.lock:
            now = time.monotonic()
            until = self.throttled_until.get(key, 0.0)
            if until > now:
                self.counters[f"throttled:{key}"] += 1
                return Throttle(max(1, math.ceil(until - now)), "TooManyRequests", _BUSY)
            if self.throttle_next[key] > 0:
                self.throttle_next[key] -= 1
                self.counters[f"throttled:{key}"] += 1
                return Throttle(self.retry_after, "TooManyRequests", _BUSY)
        return None

    def enter(self, app: str, mailbox: str) -> Throttle | None:
        """Admit one request of `app` to `mailbox`, or refuse it beyond the concurrency limit."""
        key = f"{app.lower()}|{mailbox.lower()}"
        with self.lock:
            if self.inflight[key] >= self.max_concurrent:
                self.counters[f"throttled:{mailbox.lower()}"] += 1
                self.counters["concurrency_refusals"] += 1
                return Throttle(self.retry_after)
            self.inflight[key] += 1
            self.counters["max_inflight"] = max(self.counters["max_inflight"], self.inflight[key])
        return None

    def leave(self, app: str, mailbox: str) -> None:
        """A request admitted by `enter` finished."""
        with self.lock:
            self.inflight[f"{app.lower()}|{mailbox.lower()}"] -= 1

    def reset(self) -> None:
        """Clear faults, throttling and counters."""
        self.set_faults({"clear": True})
        self.set_throttling({"clear": True})
        with self.lock:
            self.counters.clear()


_BUSY = "The request has been throttled. Retry after the time given in Retry-After."
