"""The sync invariants hold through any sequence of disturbances (a hypothesis state machine).

Each step is a soak round (`tests/soak/rounds.py`): platform edits, trainers' Outlook edits,
lost links and cursors, and the clock moving by minutes to days; a sync under Exchange faults,
throttling or a crash between an Exchange write and the store's commit; then a clean sync after
which every invariant of `tests/soak/oracle.py` must hold, and a second one that writes nothing.

It runs against the EWS emulator and a real store through the product's connector, each sync
the flow's own cycle on an injected clock. The suite runs a bounded, reproducible number of
examples; `pytest --soak N` runs N random examples of twice the length.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from connectors.platform import db
from tests.flows.exchange_sides import EwsSide
from tests.soak.rounds import InProcessSyncs, run_round
from tests.soak.world import Choose, Clock, SoakWorld

#: A Wednesday four days before the clocks go forward in London (28 March 2027): the window
#: crosses the change as the clock moves on, and whole days change length.
START = datetime(2027, 3, 24, 9, 17, tzinfo=UTC)


class _DrawChoose:
    """A round's choices drawn from hypothesis, so a failure shrinks to a short story."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(st.integers(low, high))

    def element(self, options: Any) -> Any:
        return self.data.draw(st.sampled_from(list(options)))


def _machine(side: EwsSide, new_store: Callable[[], str]) -> type[RuleBasedStateMachine]:
    class SyncSoak(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.url = new_store()
            self.world = SoakWorld.create(self.url, side, Clock(START))
            self.syncs = InProcessSyncs(self.world)

        @initialize(data=st.data())
        def a_first_calendar(self, data: st.DataObject) -> None:
            self.world.populate(_DrawChoose(data))

        @rule(data=st.data())
        def a_round(self, data: st.DataObject) -> None:
            choose: Choose = _DrawChoose(data)
            report = run_round(self.world, choose, self.syncs, clock_moves=True)
            assert not report.violations, (
                f"after {report.disturbances} and a sync with {report.trouble}: "
                + "\n".join(report.violations)
            )

        def teardown(self) -> None:
            db.get_engine(self.url).dispose()

    return SyncSoak


def test_sync_invariants_hold_through_random_rounds(
    ews_side: EwsSide,
    migrated_store: Callable[[str], str],
    request: pytest.FixtureRequest,
) -> None:
    soak = int(request.config.getoption("--soak"))
    stores = itertools.count()
    run_state_machine_as_test(
        _machine(ews_side, lambda: migrated_store(f"soak-{next(stores)}.db")),
        settings=settings(
            max_examples=soak or 6,
            stateful_step_count=24 if soak else 12,
            derandomize=not soak,  # the suite's examples are the same on every run
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
