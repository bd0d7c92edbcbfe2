"""The connector's own retry policy: a shared per-account throttling gate plus bounded back-off.

Exchange throttles per *account* (the master account's budget), not per connection: when it
answers `ErrorServerBusy` with `BackOffMilliseconds`, every thread using that account must stop
until the back-off passes, or the next requests are throttled again and the budget drains. So
gates live in a process-wide registry keyed by (endpoint, username), and every request first
waits at its account's gate. Other transient failures (5xx, resets, timeouts) are retried with
exponential back-off and full jitter, bounded both in attempts and in total time. Permanent
failures are raised at once.

tenacity runs the attempts, the waits and the stop conditions; the gate is what makes one
server back-off hold back every thread. The clock and `sleep` come from `RetryPolicy`, so tests
run the same policy on a virtual clock instead of sleeping.

exchangelib's own retry loop is not used: under its FaultTolerance policy it retries HTTP 401 as
throttling for up to an hour, so the connector runs it with FailFast and retries here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NoReturn, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_random_exponential

from connectors.exchange.errors import ExchangeError, ServerBusy

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying one request, and the clock its waits are measured and spent on."""

    max_attempts: int = 4  # tries for transient failures other than throttling
    base_delay: float = 0.5  # seconds; the n-th attempt's retry waits up to base_delay * 2**(n-1)
    max_delay: float = 8.0
    max_elapsed: float = 120.0  # total seconds one request may spend, throttling waits included
    default_busy_backoff: float = 5.0  # when the server throttles without saying for how long
    clock: Clock = field(default=time.monotonic, repr=False, compare=False)
    sleep: Sleep = field(default=time.sleep, repr=False, compare=False)

    def busy_back_off(self, asked: float | None) -> float:
        """Seconds to hold back after a throttling answer: what the server asked, or the default."""
        return self.default_busy_backoff if asked is None else asked


FailureKind = Literal["busy", "transient", "permanent"]


@dataclass(frozen=True)
class Failure:
    """How the connector classified an exception from the transport."""

    kind: FailureKind
    error: ExchangeError
    back_off: float | None = None  # seconds requested by the server
    repeatable: bool = True  # False when the request may have been processed (read timeout)


class AccountGate:
    """Holds back every request to one account until the server's back-off has passed."""

    def __init__(self, key: tuple[str, str], clock: Clock = time.monotonic) -> None:
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

    def wait(self, sleep: Sleep = time.sleep) -> float:
        """Block until the gate is open; return the seconds waited."""
        waited = 0.0
        while (remaining := self.remaining) > 0:
            sleep(remaining)
            waited += remaining
        return waited


# A hold is a deadline on one clock, so gates are shared by the connectors of one clock: every
# real connector of the process (time.monotonic), or those of one test's virtual clock.
_gates: dict[tuple[Clock, tuple[str, str]], AccountGate] = {}
_gates_lock = threading.Lock()


def gate_for(endpoint: str, username: str, clock: Clock = time.monotonic) -> AccountGate:
    """The process-wide gate of the account `username` at `endpoint`."""
    key = (endpoint.rstrip("/").lower(), username.lower())
    with _gates_lock:
        gate = _gates.get((clock, key))
        if gate is None:
            gate = _gates[(clock, key)] = AccountGate(key, clock)
        return gate


class RefusedForNow(Exception):
    """An attempt the server refused for now (throttled, or failed transiently), wholly or some
    of its items: repeat it later. `failure` is set when the whole request was refused."""

    def __init__(self, failure: Failure | None = None) -> None:
        super().__init__(failure.error if failure else "refused for now")
        self.failure = failure


class _Waits:
    """The waits and the time budget of one retried operation, as tenacity asks for them."""

    def __init__(self, gate: AccountGate, policy: RetryPolicy) -> None:
        self.gate = gate
        self.policy = policy
        self.started = policy.clock()
        self._jitter = wait_random_exponential(multiplier=policy.base_delay, max=policy.max_delay)
        self._delays: dict[int, float] = {}

    def delay(self, state: RetryCallState) -> float:
        """The server's back-off (the gate, or the failure's own), else full jitter.

        Decided once per attempt: tenacity releases differ in whether `stop` or `wait` asks first.
        """
        attempt = state.attempt_number
        if attempt not in self._delays:
            failure, held = _failure_of(state), self.gate.remaining
            if held > 0:
                self._delays[attempt] = held
            elif failure is not None and failure.back_off is not None:
                self._delays[attempt] = failure.back_off
            else:
                self._delays[attempt] = self._jitter(state)
        return self._delays[attempt]

    def over_budget(self, state: RetryCallState) -> bool:
        """True when waiting once more would take the operation past `max_elapsed`."""
        elapsed = self.policy.clock() - self.started
        return elapsed + self.delay(state) > self.policy.max_elapsed

    def retrying(
        self, stop: Callable[[RetryCallState], bool], give_up: Callable[[RetryCallState], NoReturn]
    ) -> Retrying:
        """A tenacity loop repeating on `RefusedForNow`, with these waits, on the policy's clock."""
        return Retrying(
            retry=retry_if_exception_type(RefusedForNow),
            wait=self.delay,
            stop=stop,
            sleep=self.policy.sleep,
            retry_error_callback=give_up,
        )


def _failure_of(state: RetryCallState) -> Failure | None:
    exc = state.outcome.exception() if state.outcome else None
    return exc.failure if isinstance(exc, RefusedForNow) else None


def _throttled_too_long(policy: RetryPolicy, last_back_off: float) -> ServerBusy:
    return ServerBusy(
        f"Exchange kept throttling the account for over {policy.max_elapsed:.0f} s "
        f"(last back-off {last_back_off:.1f} s).",
        "Lower the number of trainers synced in parallel for this service, or ask the "
        "Exchange admin to relax the throttling policy of the master account.",
    )


def run_with_retry(
    op: Callable[[], T],
    *,
    gate: AccountGate,
    classify: Callable[[BaseException], Failure],
    policy: RetryPolicy,
    idempotent: bool = True,
    on_back_off: Callable[[], object] = lambda: None,
) -> T:
    """Run `op` (one request) under the account gate, retrying as the policy allows.

    Non-idempotent requests (creates) are repeated only when the failure shows the server did
    not process them (refused connection, throttling, 503). `on_back_off` is told of each
    throttling answer.
    """
    waits = _Waits(gate, policy)
    transient_failures = 0

    def attempt() -> T:
        nonlocal transient_failures
        gate.wait(policy.sleep)
        try:
            return op()
        except Exception as exc:  # classified below; unknown errors are re-raised by classify
            failure = classify(exc)
            if failure.kind == "permanent":
                raise failure.error from exc
            if failure.kind == "busy":
                gate.hold(policy.busy_back_off(failure.back_off))
                on_back_off()
            else:
                transient_failures += 1
                if not (idempotent or failure.repeatable):
                    raise failure.error from exc
            raise RefusedForNow(failure) from exc

    def stop(state: RetryCallState) -> bool:
        failure = _failure_of(state)
        spent = failure is not None and failure.kind == "transient"
        return (spent and transient_failures >= policy.max_attempts) or waits.over_budget(state)

    def give_up(state: RetryCallState) -> NoReturn:
        refused = state.outcome.exception() if state.outcome else None
        assert isinstance(refused, RefusedForNow) and refused.failure is not None
        if refused.failure.kind == "busy":
            raise _throttled_too_long(policy, waits.delay(state)) from refused.__cause__
        raise refused.failure.error from refused.__cause__

    result: T = waits.retrying(stop, give_up)(attempt)
    return result


def repeat_while_refused(
    attempt: Callable[[], None],
    *,
    gate: AccountGate,
    policy: RetryPolicy,
    give_up: Callable[[], ExchangeError],
) -> None:
    """Call `attempt` again each time it raises `RefusedForNow` (some items of a batch were
    refused for now, to be sent again), once the gate has opened, within `max_elapsed`.

    `attempt` holds the gate for the server's back-off; without one the wait is jittered.
    Past the budget, the error `give_up()` makes is raised.
    """
    waits = _Waits(gate, policy)

    def spent(state: RetryCallState) -> NoReturn:
        raise give_up()

    waits.retrying(waits.over_budget, spent)(attempt)
