"""The connector's own retry policy: a shared per-account throttling gate plus bounded back-off.

Exchange throttles per *account* (the master account's budget), not per connection: when it
answers `ErrorServerBusy` with `BackOffMilliseconds`, every thread using that account must stop
until the back-off passes, or the next requests are throttled again and the budget drains. So
gates live in a process-wide registry keyed by (endpoint, username), and every request first
waits at its account's gate. Other transient failures (5xx, resets, timeouts) are retried with
exponential back-off and full jitter, bounded both in attempts and in total time. Permanent
failures are raised at once.

exchangelib's own retry loop is not used: under its FaultTolerance policy it retries HTTP 401 as
throttling for up to an hour, so the connector runs it with FailFast and retries here.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from connectors.exchange.errors import ExchangeError, ServerBusy

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying one request."""

    max_attempts: int = 4  # tries for transient failures other than throttling
    base_delay: float = 0.5  # seconds; the n-th retry waits up to base_delay * 2**n
    max_delay: float = 8.0
    max_elapsed: float = 120.0  # total seconds one request may spend, throttling waits included
    default_busy_backoff: float = 5.0  # when ErrorServerBusy carries no BackOffMilliseconds


@dataclass(frozen=True)
class Failure:
    """How the connector classified an exception from the transport."""

    kind: str  # "busy" | "transient" | "permanent"
    error: ExchangeError
    back_off: float | None = None  # seconds requested by the server ("busy")
    repeatable: bool = True  # False when the request may have been processed (read timeout)


class AccountGate:
    """Holds back every request to one account until the server's back-off has passed."""

    def __init__(self, key: tuple[str, str], clock: Callable[[], float] = time.monotonic) -> None:
        self.key = key
        self._clock = clock
        self._until = 0.0
        self._lock = threading.Lock()
        self.holds = 0  # how many back-offs were imposed (for logs and tests)

    def hold(self, seconds: float) -> None:
        """Close the gate for `seconds` from now (never shortens an existing hold)."""
        with self._lock:
            self._until = max(self._until, self._clock() + max(0.0, seconds))
            self.holds += 1

    @property
    def remaining(self) -> float:
        """Seconds until the gate opens (0 when open)."""
        with self._lock:
            return max(0.0, self._until - self._clock())

    def wait(self, sleep: Callable[[float], None] = time.sleep) -> float:
        """Block until the gate is open; return the seconds waited."""
        waited = 0.0
        while (remaining := self.remaining) > 0:
            sleep(remaining)
            waited += remaining
        return waited


_gates: dict[tuple[str, str], AccountGate] = {}
_gates_lock = threading.Lock()


def gate_for(endpoint: str, username: str) -> AccountGate:
    """The process-wide gate of the account `username` at `endpoint`."""
    key = (endpoint.rstrip("/").lower(), username.lower())
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = AccountGate(key)
        return gate


def run_with_retry(
    op: Callable[[], T],
    *,
    gate: AccountGate,
    classify: Callable[[BaseException], Failure],
    policy: RetryPolicy,
    idempotent: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run `op` (one request) under the account gate, retrying as the policy allows.

    Non-idempotent requests (creates) are repeated only when the failure shows the server did
    not process them (refused connection, throttling, 503).
    """
    started = clock()
    attempt = 0
    while True:
        gate.wait(sleep)
        try:
            return op()
        except Exception as exc:  # classified below; unknown errors are re-raised by classify
            failure = classify(exc)
            if failure.kind == "permanent":
                raise failure.error from exc
            elapsed = clock() - started
            if failure.kind == "busy":
                wait = (
                    failure.back_off
                    if failure.back_off is not None
                    else policy.default_busy_backoff
                )
                gate.hold(wait)
                if elapsed + wait > policy.max_elapsed:
                    raise ServerBusy(
                        f"Exchange kept throttling the account for over {policy.max_elapsed:.0f} s "
                        f"(last back-off {wait:.1f} s).",
                        "Lower the number of trainers synced in parallel for this service, or ask "
                        "the Exchange admin to relax the throttling policy of the master account.",
                    ) from exc
                continue
            attempt += 1
            if attempt >= policy.max_attempts or not (idempotent or failure.repeatable):
                raise failure.error from exc
            delay = random.uniform(0, min(policy.max_delay, policy.base_delay * 2**attempt))
            if elapsed + delay > policy.max_elapsed:
                raise failure.error from exc
            sleep(delay)
