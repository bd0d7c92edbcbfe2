"""The resources a run works with, built per environment and handed to every task explicitly.

A run needs three things from the world around it: the platform store, a way to resolve secret
references, and a way to build Exchange connectors. Served and worker runs start in child
processes from the deployment's entrypoint, so nothing a CLI process set up beforehand exists
there: each flow builds its resources from its own environment (`Resources.from_environment`),
and the same environment variables mean the same thing in every process. An in-process caller
(the CLI, a test, a benchmark) may instead bind resources of its own for the flows it runs
(`using(...)`), e.g. a database given with `--database-url`, or an observer that wants the
run's progress and per-trainer results.

| setting | environment | default |
| --- | --- | --- |
| platform store | TRAINER_SYNC_DATABASE_URL | sqlite:///trainer_sync.db |
| provider lock lease | TRAINER_SYNC_LOCK_LEASE_SECONDS | 90 |
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from connectors.exchange import connect
from connectors.exchange.base import ExchangeConnector
from connectors.exchange.config import ServiceConfig
from connectors.platform.db import check_database_url, database_url, snapshot, transaction
from connectors.secrets import SecretResolver, environment_resolver
from sync_rules.errors import ConfigurationError
from tasks.secrets import load_prefect_secret

LOCK_LEASE_ENV = "TRAINER_SYNC_LOCK_LEASE_SECONDS"
#: A provider lock lives this long unless its run renews it; a crashed run's lock is free again
#: within this time (sooner when the holder is seen to be gone).
DEFAULT_LOCK_LEASE = timedelta(seconds=90)

ConnectorFactory = Callable[..., ExchangeConnector]


class RunObserver(Protocol):
    """Someone in the same process who watches a run: a progress bar, a test."""

    def progress(self, stage: str, done: int, total: int) -> None:
        """`done` more trainers finished `stage` ("extract", "load") of `total`."""

    def finished(self, provider: str, records: Sequence[Mapping[str, Any]]) -> None:
        """The run's per-trainer results, as in its table artifact."""


class Recorder:
    """An observer that keeps each provider's per-trainer results of the runs it watched."""

    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {}

    def progress(self, stage: str, done: int, total: int) -> None:
        pass

    def finished(self, provider: str, records: Sequence[Mapping[str, Any]]) -> None:
        self.records[provider] = [dict(r) for r in records]


class Resources:
    """The platform store, secret resolution and Exchange connectors of one run.

    Connectors are built on first use, one per service, and shared by the run's tasks (and
    their threads); `close()` releases them. A plain class on purpose: Prefect passes it to
    tasks as it is, without looking inside.
    """

    def __init__(
        self,
        database_url: str,
        secrets: Mapping[str, SecretResolver],
        *,
        connector_factory: ConnectorFactory = connect,
        observer: RunObserver | None = None,
        lock_lease: timedelta = DEFAULT_LOCK_LEASE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database_url = database_url
        #: What "now" is for a run: its window and the change gate's read horizon follow it.
        self.clock = clock
        self.secrets = dict(secrets)
        self.observer: RunObserver = observer or Recorder()
        self.lock_lease = lock_lease
        self._connector_factory = connector_factory
        self._connectors: dict[ServiceConfig, ExchangeConnector] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        database_url_override: str | None = None,
        observer: RunObserver | None = None,
        connector_factory: ConnectorFactory = connect,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> Resources:
        """What every process of the product uses: the store, `env:` secrets from `environ`
        (this process's environment by default), `prefect-secret:` from Prefect Secret
        blocks, and the product's own connectors."""
        env = os.environ if environ is None else environ
        url = database_url(database_url_override, env)
        check_database_url(url)  # a run with an unusable store ends at once, saying why
        return cls(
            url,
            {"env": environment_resolver(env), "prefect-secret": load_prefect_secret},
            connector_factory=connector_factory,
            observer=observer,
            lock_lease=_lease(env),
            clock=clock,
        )

    def store(self) -> AbstractContextManager[Session]:
        """One transaction on the platform store: all of it commits, or none of it."""
        return transaction(self.database_url)

    def snapshot(self) -> AbstractContextManager[Session]:
        """A read-only view of the platform store that never waits for a writer."""
        return snapshot(self.database_url)

    def connector(self, config: ServiceConfig) -> ExchangeConnector:
        """The run's connector of a service (its secret is resolved here, on first use)."""
        with self._lock:
            found = self._connectors.get(config)
            if found is None:
                found = self._connectors[config] = self._connector_factory(
                    config, secrets=self.secrets
                )
            return found

    def back_offs(self) -> int:
        """How often Exchange asked this run's connectors to back off, so far."""
        with self._lock:
            return sum(c.stats.back_offs for c in self._connectors.values())

    def __enter__(self) -> Resources:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Release every connector's connections."""
        with self._lock:
            connectors, self._connectors = list(self._connectors.values()), {}
        for connector in connectors:
            connector.close()


def _lease(environ: Mapping[str, str]) -> timedelta:
    text = environ.get(LOCK_LEASE_ENV, "").strip()
    if not text:
        return DEFAULT_LOCK_LEASE
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0
    if not 5 <= seconds <= 86_400:
        raise ConfigurationError(
            f"{LOCK_LEASE_ENV} must be a number of seconds from 5 to 86400, not {text!r}.",
            f"Unset it for the default of {DEFAULT_LOCK_LEASE.total_seconds():.0f} s.",
        )
    return timedelta(seconds=seconds)


_bound: ContextVar[Resources | None] = ContextVar("trainer_sync_resources", default=None)


@contextmanager
def using(resources: Resources) -> Iterator[Resources]:
    """Run the flows called inside this block (in this process) with `resources`."""
    token = _bound.set(resources)
    try:
        yield resources
    finally:
        _bound.reset(token)


@contextmanager
def run_resources() -> Iterator[Resources]:
    """The resources of a flow run: those its in-process caller bound with `using`, else new
    ones from this process's environment (served and worker runs), closed when the run ends."""
    bound = _bound.get()
    if bound is not None:
        yield bound
        return
    resources = Resources.from_environment()
    try:
        yield resources
    finally:
        resources.close()
