"""Prefect retries repeat only what may pass by itself; a wrong input fails at once."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from prefect import Task
from sqlalchemy.exc import OperationalError

import tasks
from connectors.exchange.errors import AuthenticationFailed, ServerBusy, ServiceUnavailable
from sync_rules.errors import ConfigurationError
from tasks.runtime import is_worth_retrying, retry_if_transient


def _tasks() -> list[Task]:  # type: ignore[type-arg]
    found = []
    for module in pkgutil.iter_modules(tasks.__path__):
        loaded = importlib.import_module(f"tasks.{module.name}")
        found += [v for v in vars(loaded).values() if isinstance(v, Task)]
    return found


def test_every_retried_task_retries_only_transient_failures() -> None:
    retried = [t for t in _tasks() if t.retries]
    assert retried, "no task retries at all?"
    for task in retried:
        assert task.retry_condition_fn is retry_if_transient, task.name


@pytest.mark.parametrize(
    ("error", "worth_it"),
    [
        (ConfigurationError("Not a linked trainer of 'Acme': x@acme.test."), False),
        (AuthenticationFailed("The password was refused."), False),
        (ServerBusy("Exchange kept throttling."), True),
        (ServiceUnavailable("HTTP 503."), True),
        (OperationalError("INSERT", {}, Exception("database is locked")), True),
        (OperationalError("SELECT", {}, Exception("no such table: trainers")), False),
        (KeyError("a bug"), False),
    ],
)
def test_what_is_worth_a_retry(error: Exception, worth_it: bool) -> None:
    assert is_worth_retrying(error) is worth_it
