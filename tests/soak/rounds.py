"""One soak round, and the in-process way of running its syncs.

A round: 1–4 disturbances; a sync run under trouble (Exchange faults, throttling, a crash
after an Exchange write and before the store's commit; or none); a clean sync, after which
every invariant must hold (`oracle.violations`); and a second clean sync, which must write
nothing. No sync of the round may touch a trainer's own items.

`InProcessSyncs` runs each sync as the flow does (`flows.cycle.sync_cycle`, the same task
functions) without Prefect's orchestration around them, on the world's clock, so that hundreds
of rounds fit in minutes. Another runner (`Syncs`) may run the same rounds differently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from connectors.exchange import RetryPolicy, connect
from connectors.secrets import environment_resolver
from flows.cycle import DirectSteps, sync_cycle
from tasks.history import totals
from tasks.resources import Recorder, Resources
from tests.flows.exchange_sides import MASTER_PW, SECRET_ENV
from tests.soak import oracle
from tests.soak.world import PROVIDER, Choose, SoakWorld

#: What may go wrong in the sync before the clean one.
TROUBLE = ("none", "faults", "throttling", "crash")

#: Fast retries: the stand-in's faults are retried as in production, without the waits.
FAST_RETRIES = RetryPolicy(
    base_delay=0.01, max_delay=0.05, max_elapsed=5.0, default_busy_backoff=0.05
)


@dataclass(frozen=True)
class SyncResult:
    """A finished sync: its per-trainer records and the "now" its window was taken at."""

    records: list[dict[str, Any]]
    now: datetime
    outcome: str


class Syncs(Protocol):
    """How a round runs its syncs."""

    trouble: Sequence[str]  # the kinds of trouble this runner can cause

    def sync(self, trouble: str) -> SyncResult | None:
        """One sync of the world's provider; None when trouble stopped it before the end."""
        ...


@dataclass
class RoundReport:
    disturbances: list[str]
    trouble: str
    violations: list[str] = field(default_factory=list)


def run_round(world: SoakWorld, choose: Choose, syncs: Syncs, clock_moves: bool) -> RoundReport:
    """Disturb the world, sync under trouble, sync clean, and check every invariant."""
    options = world.disturbances(clock_moves)
    done = []
    for _ in range(choose.integer(1, 4)):
        disturb = choose.element(options)
        disturb(choose)
        done.append(disturb.__name__)
    report = RoundReport(done, choose.element(syncs.trouble))
    before = oracle.own_items(world)
    if report.trouble != "none":
        syncs.sync(report.trouble)
    clean = syncs.sync("none")
    problems = report.violations
    if clean is None or clean.outcome != "completed":
        failures = [f"{r['trainer']}: {r.get('error')}" for r in (clean.records if clean else [])]
        problems.append(f"the clean sync did not complete: {failures or clean}")
        return report
    problems += oracle.violations(world, clean.now)
    again = syncs.sync("none")
    if again is None or again.outcome != "completed":
        problems.append("the second clean sync did not complete")
    elif written := {k: v for k, v in totals(again.records).items() if v}:
        problems.append(f"the second clean sync wrote {written}")
    problems += oracle.touched(before, oracle.own_items(world))
    return report


class Crash(BaseException):
    """The process dies here: not an error the run could catch and report."""


class _CrashingConnector:
    """The service's real connector; when armed, the process "dies" right after Exchange has
    carried out a write, before the run records it in the store."""

    def __init__(self, connector: Any, armed: Callable[[], bool]) -> None:
        self._connector, self._armed = connector, armed

    def apply(self, mailbox: str, actions: Sequence[Any]) -> Any:
        results = self._connector.apply(mailbox, actions)
        if actions and self._armed():
            raise Crash(f"killed after writing to {mailbox}")
        return results

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connector, name)


class InProcessSyncs:
    """Each sync the flow's cycle in this process, on the world's clock."""

    trouble = TROUBLE

    def __init__(self, world: SoakWorld) -> None:
        self.world = world
        self._armed = False

    def _take_crash(self) -> bool:
        armed, self._armed = self._armed, False
        return armed

    def _connector(self, config: Any, **kwargs: Any) -> Any:
        return _CrashingConnector(
            connect(config, **kwargs, retry_policy=FAST_RETRIES), self._take_crash
        )

    def sync(self, trouble: str) -> SyncResult | None:
        side = self.world.side
        if trouble == "faults":
            side.control.faults(error_rate=0.25, drop_rate=0.1)
        elif trouble == "throttling":
            side.control.throttling(**side.storm)
        self._armed = trouble == "crash"
        resources = Resources(
            self.world.url,
            {"env": environment_resolver({SECRET_ENV: MASTER_PW})},
            connector_factory=self._connector,
            observer=Recorder(),
            clock=self.world.clock,
        )
        try:
            with resources:
                now = self.world.clock()
                end = sync_cycle(resources, PROVIDER, None, False, False, DirectSteps())
                return SyncResult(end.records, now, end.outcome)
        except Crash:
            return None
        finally:
            self._armed = False
            side.control.clear_faults()
            side.control.throttling(clear=True)
