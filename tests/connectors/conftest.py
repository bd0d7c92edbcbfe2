"""What the EWS and Graph connector tests share: building connectors for a stand-in, the quick
retry policy, and a virtual clock for the retry policy so that back-offs cost no real time.

Each backend's conftest provides `service_of`: the service configuration for its stand-in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.exchange import ExchangeConnector, ServiceConfig, connect
from connectors.exchange.retry import RetryPolicy

FAST = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2, max_elapsed=20.0)


class VirtualTime:
    """A clock that only moves when something sleeps on it; it remembers every sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def policy(self, base: RetryPolicy = FAST) -> RetryPolicy:
        """`base` with its waits measured and spent on this clock."""
        return dataclasses.replace(base, clock=self.clock, sleep=self.sleep)


ServiceOf = Callable[..., ServiceConfig]
MakeConnector = Callable[..., ExchangeConnector]


@pytest.fixture
def make_connector(service_of: ServiceOf) -> Iterator[MakeConnector]:
    """Build connectors for the stand-in (closed after the test): `make(policy, **overrides)`."""
    made: list[ExchangeConnector] = []

    def make(policy: RetryPolicy = FAST, **overrides: Any) -> ExchangeConnector:
        conn = connect(service_of(**overrides), retry_policy=policy)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()


@pytest.fixture
def connector(make_connector: MakeConnector) -> ExchangeConnector:
    """The standard connector of the backend."""
    return make_connector()


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)
